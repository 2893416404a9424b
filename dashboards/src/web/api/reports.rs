//! Leader reports: the JSON report of a period, its DOCX and XLSX downloads, and the archive of
//! scheduled daily reports.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::ApiResult;
use crate::reports::{self, Period};
use crate::web::ApiError;
use crate::web::access::Caller;
use crate::{SharedState, export};

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    /// Any day inside the period, `YYYY-MM-DD` in local time; default today.
    pub date: Option<String>,
}

pub fn build_report(
    state: &SharedState,
    period: &str,
    q: &ReportQuery,
) -> ApiResult<reports::Report> {
    let period = Period::parse(period).ok_or(ApiError::NotFound)?;
    let offset = state.config.ui.utc_offset_hours;
    let now = state.ctx.clock.now();
    let day = match q.date.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| ApiError::BadRequest("日期格式应为 YYYY-MM-DD".into()))?,
        None => reports::local_date(now, offset),
    };
    Ok(reports::build(
        &state.store,
        period,
        day,
        offset,
        now,
        state.config.ui.near_due_minutes,
    )?)
}

pub async fn report(
    State(state): State<SharedState>,
    Caller(_): Caller,
    Path(period): Path<String>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<reports::Report>> {
    Ok(Json(build_report(&state, &period, &q)?))
}

fn download(bytes: Vec<u8>, mime: &'static str, filename: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// The download formats of a report.
#[derive(Clone, Copy)]
enum FileFormat {
    Docx,
    Xlsx,
}

impl FileFormat {
    /// The format a file name ends in (`report.docx`, `daily-2026-11-25.xlsx`).
    fn of(name: &str) -> Option<Self> {
        if name.ends_with(".docx") {
            Some(FileFormat::Docx)
        } else if name.ends_with(".xlsx") {
            Some(FileFormat::Xlsx)
        } else {
            None
        }
    }

    fn ext(self) -> &'static str {
        match self {
            FileFormat::Docx => "docx",
            FileFormat::Xlsx => "xlsx",
        }
    }

    fn mime(self) -> &'static str {
        match self {
            FileFormat::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            FileFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    fn render(self, r: &reports::Report) -> Result<Vec<u8>, crate::Error> {
        match self {
            FileFormat::Docx => export::docx(r),
            FileFormat::Xlsx => export::xlsx(r),
        }
    }
}

/// `/reports/{period}/report.docx` and `/reports/{period}/report.xlsx`.
pub async fn report_file(
    State(state): State<SharedState>,
    Caller(_): Caller,
    Path((period, file)): Path<(String, String)>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let format = file
        .strip_prefix("report.")
        .and_then(|_| FileFormat::of(&file))
        .ok_or(ApiError::NotFound)?;
    let r = build_report(&state, &period, &q)?;
    let bytes = format.render(&r)?;
    Ok(download(
        bytes,
        format.mime(),
        format!("yuqing-{}-{}.{}", r.period, r.start_date, format.ext()),
    ))
}

#[derive(Serialize)]
pub struct ArchiveEntry {
    name: String,
    url: String,
    bytes: u64,
}

/// The scheduled daily reports kept on disk, newest first.
pub async fn archive(
    State(state): State<SharedState>,
    Caller(_): Caller,
) -> ApiResult<Json<Vec<ArchiveEntry>>> {
    let dir = crate::schedule::archive_dir(&state)?;
    let mut out = Vec::new();
    let mut rd = tokio::fs::read_dir(&dir)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    while let Some(e) = rd
        .next_entry()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if crate::schedule::is_archive_name(&name) {
            let bytes = e.metadata().await.map(|m| m.len()).unwrap_or(0);
            out.push(ArchiveEntry {
                url: format!("/reports/archive/{name}"),
                name,
                bytes,
            });
        }
    }
    out.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(Json(out))
}

pub async fn archive_file(
    State(state): State<SharedState>,
    Caller(_): Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    if !crate::schedule::is_archive_name(&name) {
        return Err(ApiError::NotFound);
    }
    let path = crate::schedule::archive_dir(&state)?.join(&name);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::NotFound)?;
    // `is_archive_name` admits only the two formats.
    let format = FileFormat::of(&name).ok_or(ApiError::NotFound)?;
    Ok(download(bytes, format.mime(), name))
}
