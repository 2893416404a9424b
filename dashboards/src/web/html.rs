//! Server-rendered HTML (login, admin, print view). Every interpolated value goes through [`esc`].

use axum::response::Html;

/// Escape text for HTML element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with the common header. `user` is shown in the header when logged in; `csrf` feeds the
/// logout form.
pub fn page(title: &str, user: Option<(&str, &str, &str)>, body: &str) -> Html<String> {
    let who = match user {
        Some((name, role, csrf)) => format!(
            r#"<span class="who">{} · {}</span><a href="/account">修改密码</a><form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{}"><button type="submit">退出</button></form>"#,
            esc(name),
            esc(role),
            esc(csrf)
        ),
        None => String::new(),
    };
    Html(format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 贵阳市政务舆情监测与回应平台</title><link rel="icon" href="/assets/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/assets/app.css"></head>
<body><header class="top"><a class="brand" href="/">贵阳市政务舆情监测与回应平台</a><nav><a href="/">监测台</a><a href="/inbox">案件</a><a href="/reports">报告</a><a href="/ops">运行</a><a href="/admin">管理</a></nav><div class="user">{who}</div></header>
<main>{body}</main></body></html>"#,
        title = esc(title),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<img src=x onerror="a('b')">&`"#),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;&#96;"
        );
    }
}
