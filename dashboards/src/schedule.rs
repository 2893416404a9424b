//! The scheduled daily report (舆情日报): every day at `reports.daily_at` local time, the previous
//! day's report is written to the archive (DOCX + XLSX, served on the reports page) and announced
//! to the configured webhooks (a message gateway, an OA system) and on `yuqing.notifications.v1`,
//! which respond delivers through its channels. A run missed while the process was down is made
//! up at start.

use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use common::bus::publish;
use common::topics;
use common::wire::{Envelope, NotificationRequest};
use serde::Serialize;

use crate::reports::{self, Period};
use crate::{Error, SharedState, export};

/// The next moment, strictly after `now`, whose local time of day is `at`.
pub fn next_run(now: DateTime<Utc>, at: NaiveTime, offset_hours: i32) -> DateTime<Utc> {
    let offset = Duration::hours(offset_hours as i64);
    let local_now = now.naive_utc() + offset;
    let mut candidate = local_now.date().and_time(at);
    if candidate <= local_now {
        candidate += Duration::days(1);
    }
    (candidate - offset).and_utc()
}

pub fn parse_time(s: &str) -> Result<NaiveTime, Error> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| Error::BadRequest(format!("reports.daily_at {s:?} is not HH:MM")))
}

pub fn archive_dir(state: &SharedState) -> Result<PathBuf, Error> {
    let dir = state.ctx.stage_dir("dashboards")?.join("reports");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Archive file names are generated here and checked on download, so a request can never name
/// a path outside the archive.
pub fn is_archive_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("daily-") else {
        return false;
    };
    let (date, ext) = match rest.rsplit_once('.') {
        Some(x) => x,
        None => return false,
    };
    matches!(ext, "docx" | "xlsx") && NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok()
}

#[derive(Serialize)]
struct Notice<'a> {
    kind: &'static str,
    title: &'a str,
    date: String,
    summary: String,
    docx: String,
    xlsx: String,
}

/// Write the daily report of local day `day` to the archive and announce it.
pub async fn generate_daily(state: &SharedState, day: NaiveDate) -> Result<PathBuf, Error> {
    let now = state.ctx.clock.now();
    let r = reports::build(
        &state.store,
        Period::Daily,
        day,
        state.config.ui.utc_offset_hours,
        now,
        state.config.ui.near_due_minutes,
    )?;
    let dir = archive_dir(state)?;
    let docx = dir.join(format!("daily-{day}.docx"));
    let xlsx = dir.join(format!("daily-{day}.xlsx"));
    // Write then rename, so a crash never leaves a half-written report in the archive.
    for (path, bytes) in [(&docx, export::docx(&r)?), (&xlsx, export::xlsx(&r)?)] {
        let tmp = path.with_extension("part");
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, path).await?;
    }
    tracing::info!(%day, path = %docx.display(), "daily report archived");
    let notice = Notice {
        kind: "daily_report",
        title: &r.title,
        date: day.to_string(),
        summary: export::summary(&r),
        docx: format!("/reports/archive/daily-{day}.docx"),
        xlsx: format!("/reports/archive/daily-{day}.xlsx"),
    };
    let body = serde_json::to_vec(&notice).map_err(|e| Error::Export(e.to_string()))?;
    for url in &state.config.reports.webhooks {
        push(url, &body).await;
    }
    if state.config.reports.notify {
        announce(state, &notice, now).await;
    }
    Ok(docx)
}

/// The daily report's notice as respond delivers it.
fn notification(
    notice: &Notice<'_>,
    public_url: &str,
    recipients: &[String],
) -> NotificationRequest {
    let base = public_url.trim().trim_end_matches('/');
    let link = (base.starts_with("http://") || base.starts_with("https://"))
        .then(|| format!("{base}{}", notice.docx));
    NotificationRequest {
        kind: notice.kind.to_string(),
        title: notice.title.to_string(),
        text: notice.summary.clone(),
        link,
        recipients: recipients.to_vec(),
    }
}

/// Publish the notice for respond to deliver. The message id names the day, so a report made
/// again (a make-up run after a crash) is not announced twice. A bus failure is logged: the
/// report is archived either way and the webhooks have had their notice.
async fn announce(state: &SharedState, notice: &Notice<'_>, now: DateTime<Utc>) {
    let req = notification(
        notice,
        &state.config.reports.public_url,
        &state.config.reports.notify_recipients,
    );
    let env = Envelope::new(format!("{}:{}", notice.kind, notice.date), now, req);
    if let Err(e) = publish(
        state.ctx.bus.as_ref(),
        topics::NOTIFICATIONS,
        notice.kind,
        &env,
    )
    .await
    {
        tracing::warn!(error = %e, date = %notice.date, "daily report notification not published");
    }
}

async fn push(url: &str, body: &[u8]) {
    let client = reqwest::Client::new();
    for attempt in 1..=3u32 {
        let res = client
            .post(url)
            .header("content-type", "application/json")
            .timeout(std::time::Duration::from_secs(10))
            .body(body.to_vec())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(url, attempt, status = %r.status(), "report notice refused"),
            Err(e) => tracing::warn!(url, attempt, error = %e, "report notice failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(2u64.pow(attempt))).await;
    }
}

/// Run the daily schedule until shutdown.
pub async fn run(state: SharedState, shutdown: common::Shutdown) {
    let at = match parse_time(&state.config.reports.daily_at) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "daily report schedule disabled");
            return;
        }
    };
    let offset = state.config.ui.utc_offset_hours;
    // Make up a missed run: yesterday's report is due once today's run time has passed.
    let now = state.ctx.clock.now();
    let today = reports::local_date(now, offset);
    let yesterday = today - Duration::days(1);
    let due_today = next_run(now, at, offset) - Duration::days(1) <= now;
    let have = archive_dir(&state)
        .map(|d| d.join(format!("daily-{yesterday}.docx")).exists())
        .unwrap_or(true);
    if due_today && !have {
        if let Err(e) = generate_daily(&state, yesterday).await {
            tracing::warn!(error = %e, "making up the missed daily report failed");
        }
    }
    loop {
        let now = state.ctx.clock.now();
        let next = next_run(now, at, offset);
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let day = reports::local_date(next, offset) - Duration::days(1);
        if let Err(e) = generate_daily(&state, day).await {
            tracing::warn!(error = %e, %day, "daily report failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_run_is_the_next_local_time() {
        let at = NaiveTime::from_hms_opt(8, 0, 0).unwrap();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 07:00 Beijing = 23:00 UTC the day before: today's 08:00 is an hour away.
        assert_eq!(
            next_run(t("2026-11-25T23:00:00Z"), at, 8),
            t("2026-11-26T00:00:00Z")
        );
        // Exactly at 08:00 the next run is tomorrow.
        assert_eq!(
            next_run(t("2026-11-26T00:00:00Z"), at, 8),
            t("2026-11-27T00:00:00Z")
        );
    }

    #[test]
    fn the_report_notification_links_only_to_an_http_address() {
        let notice = Notice {
            kind: "daily_report",
            title: "舆情日报 2026-11-25",
            date: "2026-11-25".into(),
            summary: "新增事件 3 起".into(),
            docx: "/reports/archive/daily-2026-11-25.docx".into(),
            xlsx: "/reports/archive/daily-2026-11-25.xlsx".into(),
        };
        let leaders = vec!["leaders:city_gov".to_string()];
        let n = notification(&notice, "https://yuqing.example.gov.cn/", &leaders);
        assert_eq!(n.kind, "daily_report");
        assert_eq!(n.title, "舆情日报 2026-11-25");
        assert_eq!(n.text, "新增事件 3 起");
        assert_eq!(
            n.link.as_deref(),
            Some("https://yuqing.example.gov.cn/reports/archive/daily-2026-11-25.docx")
        );
        assert_eq!(n.recipients, leaders);
        assert_eq!(notification(&notice, "", &[]).link, None);
        assert_eq!(notification(&notice, "yuqing.local", &[]).link, None);
    }

    #[test]
    fn archive_names_are_checked() {
        assert!(is_archive_name("daily-2026-11-26.docx"));
        assert!(is_archive_name("daily-2026-11-26.xlsx"));
        assert!(!is_archive_name("daily-../../etc/passwd.docx"));
        assert!(!is_archive_name("daily-2026-11-26.exe"));
        assert!(!is_archive_name("weekly-2026-11-26.docx"));
    }
}
