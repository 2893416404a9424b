//! Requests the framework refuses before a handler runs (a body that is not JSON, an unknown
//! value of an enum, a malformed query string, a wrong method) get axum's plain English text.
//! People read these answers (the page shows the server's message), so every such answer is
//! turned here, in one place, into the same Chinese JSON `{"error": ...}` as the handlers'.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// axum's rejection texts are a line or two; more than this is not one of them.
const MAX_REJECTION_BYTES: usize = 16 * 1024;

/// Replace a plain-text (or empty) 4xx answer with Chinese JSON.
pub async fn chinese_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !status.is_client_error() {
        return res;
    }
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|t| t.starts_with("text/plain"));
    if !plain {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REJECTION_BYTES).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let mut out = (
        status,
        axum::Json(serde_json::json!({ "error": message_zh(status, &text) })),
    )
        .into_response();
    // Keep what else the answer said (Allow on a 405, for instance).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// The Chinese for one of axum's rejections (pure).
pub fn message_zh(status: StatusCode, text: &str) -> String {
    match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            return "请以 JSON 提交（Content-Type: application/json）".into();
        }
        StatusCode::PAYLOAD_TOO_LARGE => return "提交的内容过大".into(),
        StatusCode::METHOD_NOT_ALLOWED => return "不支持此请求方法".into(),
        StatusCode::NOT_FOUND => return "未找到".into(),
        _ => {}
    }
    let (what, detail) = if let Some(d) = after(text, "Failed to parse the request body as JSON") {
        return format!("提交的内容不是有效的 JSON{}", position(d));
    } else if let Some(d) = after(
        text,
        "Failed to deserialize the JSON body into the target type",
    ) {
        ("提交的内容有误", d)
    } else if let Some(d) = after(text, "Failed to deserialize query string") {
        ("查询参数有误", d)
    } else if let Some(d) = after(text, "Failed to deserialize form body") {
        ("表单内容有误", d)
    } else if let Some(d) = after(text, "Failed to deserialize form") {
        ("表单内容有误", d)
    } else if text.contains("path") || text.contains("Path") {
        ("地址有误", "")
    } else {
        ("请求有误", "")
    };
    match serde_zh(detail) {
        Some(d) => format!("{what}：{d}"),
        None => what.to_string(),
    }
}

fn after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = text.trim().strip_prefix(prefix)?;
    Some(rest.trim_start_matches([':', ' ', '.']).trim())
}

/// `at line 1 column 7` → `（第1行第7列）`.
fn position(detail: &str) -> String {
    let Some(i) = detail.rfind("at line ") else {
        return String::new();
    };
    let mut words = detail[i + "at line ".len()..].split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(line), Some("column"), Some(col)) => format!("（第{line}行第{col}列）"),
        _ => String::new(),
    }
}

/// serde's message, with the field it concerns (`kind: unknown variant ...`), in Chinese.
fn serde_zh(detail: &str) -> Option<String> {
    let detail = detail.trim();
    if detail.is_empty() {
        return None;
    }
    let detail = match detail.rfind(" at line ") {
        Some(i) => &detail[..i],
        None => detail,
    };
    // axum names the field first when it knows it: "kind: unknown variant ...".
    let (field, msg) = match detail.split_once(": ") {
        Some((f, m)) if !f.is_empty() && !f.contains(' ') => (Some(f), m),
        _ => (None, detail),
    };
    let ticked = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let field_zh = field.map(|f| format!("字段“{f}”")).unwrap_or_default();
    let text = if msg.starts_with("unknown variant") {
        let names = ticked(msg);
        let (given, options) = names.split_first()?;
        let given = given.clone();
        if options.is_empty() {
            format!("{field_zh}的取值“{given}”不可用")
        } else {
            format!(
                "{field_zh}的取值“{given}”不可用（可选：{}）",
                options.join("、")
            )
        }
    } else if msg.starts_with("missing field") {
        format!("缺少字段“{}”", ticked(msg).first()?)
    } else if msg.starts_with("unknown field") {
        format!("不认识的字段“{}”", ticked(msg).first()?)
    } else if msg.starts_with("invalid type") {
        format!("{field_zh}的类型不对")
    } else if msg.starts_with("invalid value") || msg.starts_with("invalid digit") {
        format!("{field_zh}的取值无效")
    } else if msg.starts_with("invalid length") {
        format!("{field_zh}的长度不对")
    } else if msg.starts_with("premature end") || msg.starts_with("EOF") {
        "内容不完整".to_string()
    } else if !field_zh.is_empty() {
        format!("{field_zh}的取值无效")
    } else {
        return None;
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axum_rejections_read_in_chinese() {
        for (status, text, want) in [
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Failed to deserialize the JSON body into the target type: kind: unknown variant `statement`, expected one of `authoritative_release`, `reply` at line 1 column 40",
                "提交的内容有误：字段“kind”的取值“statement”不可用（可选：authoritative_release、reply）",
            ),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Failed to deserialize the JSON body into the target type: missing field `title` at line 1 column 2",
                "提交的内容有误：缺少字段“title”",
            ),
            (
                StatusCode::BAD_REQUEST,
                "Failed to parse the request body as JSON: expected value at line 1 column 7",
                "提交的内容不是有效的 JSON（第1行第7列）",
            ),
            (
                StatusCode::BAD_REQUEST,
                "Failed to deserialize query string: limit: invalid digit found in string",
                "查询参数有误：字段“limit”的取值无效",
            ),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`",
                "请以 JSON 提交（Content-Type: application/json）",
            ),
            (StatusCode::METHOD_NOT_ALLOWED, "", "不支持此请求方法"),
            (StatusCode::BAD_REQUEST, "something else", "请求有误"),
        ] {
            assert_eq!(message_zh(status, text), want, "{text}");
        }
    }
}
