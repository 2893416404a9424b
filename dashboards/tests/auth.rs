//! Authentication and authorization over real HTTP: the role × route × other-unit matrix, CSRF,
//! session fixation and login throttling.

mod support;

use chrono::Utc;
use common::wire::{CaseCommand, CaseState, Priority};
use reqwest::StatusCode;
use support::*;

const USERS: &[(&str, &str, Option<&str>)] = &[
    ("desk1", "desk", None),
    ("unit_a", "unit", Some("nanming")),
    ("unit_b", "unit", Some("huaxi")),
    ("leader1", "leader", None),
    ("admin1", "admin", None),
];

async fn seeded() -> Harness {
    let h = Harness::start_with_users(private_config(), USERS).await;
    let t0 = Utc::now() - chrono::Duration::hours(1);
    h.item(doc("d1", "ev-1", "南明区停水", "南明区", t0)).await;
    h.event(event("ev-1", "南明区停水", 10.0, 1, t0)).await;
    h.case_event(case("c-a", "nanming", 1, CaseState::Assigned, t0))
        .await;
    h.case_event(case("c-b", "huaxi", 1, CaseState::Assigned, t0))
        .await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_route_matrix_is_enforced_on_the_server() {
    let h = seeded().await;
    // Wait for the feed with an admin session (the read API is private in this config).
    let (admin, _) = session(&h, "admin1").await;
    h.wait_json(&admin, "/api/stats", |v| v["cases"] == 2 && v["items"] == 1)
        .await;

    let anon = client();
    let mut sessions = vec![("anon", anon, String::new())];
    for (name, _, _) in USERS {
        let (c, t) = session(&h, name).await;
        sessions.push((name, c, t));
    }
    // (route, expected status for anon, desk1, unit_a, unit_b, leader1, admin1)
    let get_matrix: &[(&str, [u16; 6])] = &[
        ("/", [303, 200, 303, 303, 200, 200]),
        ("/inbox", [303, 200, 200, 200, 200, 200]),
        ("/reports", [303, 200, 403, 403, 200, 200]),
        ("/ops", [303, 200, 403, 403, 403, 200]),
        ("/admin", [303, 403, 403, 403, 403, 200]),
        ("/account", [303, 200, 200, 200, 200, 200]),
        ("/api/events", [401, 200, 200, 200, 200, 200]),
        ("/api/items", [401, 200, 200, 200, 200, 200]),
        ("/api/stats", [401, 200, 200, 200, 200, 200]),
        ("/api/cases", [401, 200, 200, 200, 200, 200]),
        ("/api/cases/c-a", [401, 200, 200, 404, 200, 200]),
        ("/api/cases/c-b", [401, 200, 404, 200, 200, 200]),
        ("/api/reports/daily", [401, 200, 403, 403, 200, 200]),
        ("/reports/daily/report.docx", [401, 200, 403, 403, 200, 200]),
        ("/reports/daily/report.xlsx", [401, 200, 403, 403, 200, 200]),
        ("/reports/weekly/print", [303, 200, 403, 403, 200, 200]),
        ("/api/ops", [401, 200, 403, 403, 403, 200]),
        ("/api/units", [401, 200, 200, 200, 200, 200]),
        ("/healthz", [200, 200, 200, 200, 200, 200]),
        ("/metrics", [200, 200, 200, 200, 200, 200]),
    ];
    let mut failures = Vec::new();
    for (route, want) in get_matrix {
        for (i, (who, c, _)) in sessions.iter().enumerate() {
            let got = h.get(c, route).await.status().as_u16();
            if got != want[i] {
                failures.push(format!("GET {route} as {who}: got {got}, want {}", want[i]));
            }
        }
    }

    // Unit names come from the case events (the respond stage's registry).
    let me = h.me(&sessions[2].1).await;
    assert_eq!(me["unit_name"], "nanming名称");

    // A unit sees its own cases only, in the list as well.
    for (who, own, other) in [(2usize, "c-a", "c-b"), (3, "c-b", "c-a")] {
        let list: serde_json::Value = h
            .get(&sessions[who].1, "/api/cases")
            .await
            .json()
            .await
            .expect("json");
        let ids: Vec<&str> = list
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|c| c["case_id"].as_str())
            .collect();
        assert_eq!(ids, [own], "{} must not see {other}", sessions[who].0);
    }

    // Writes: (method path body, expected for anon, desk1, unit_a, unit_b, leader1, admin1)
    let ack = serde_json::json!({ "action": "acknowledge" });
    let reassign =
        serde_json::json!({ "action": "reassign", "owner_unit_id": "huaxi", "reason": "错派" });
    let open = serde_json::json!({ "title": "手动立案" });
    let intake = serde_json::json!({ "title": "山体滑坡", "body": "乌当区某村", "district": "乌当区", "reported_by_unit": "wudang" });
    let empty = serde_json::json!({});
    let write_matrix: &[(&str, &serde_json::Value, [u16; 6])] = &[
        (
            "/api/cases/c-a/commands",
            &ack,
            [401, 202, 202, 404, 403, 202],
        ),
        (
            "/api/cases/c-b/commands",
            &ack,
            [401, 202, 404, 202, 403, 202],
        ),
        (
            "/api/cases/c-a/commands",
            &reassign,
            [401, 202, 403, 404, 403, 202],
        ),
        ("/api/cases", &open, [401, 202, 403, 403, 403, 202]),
        (
            "/api/items/d1/notify",
            &empty,
            [401, 202, 403, 403, 403, 202],
        ),
        ("/api/intake", &intake, [401, 202, 202, 202, 403, 202]),
    ];
    let mut accepted = 0;
    for (route, body, want) in write_matrix {
        for (i, (who, c, csrf)) in sessions.iter().enumerate() {
            let got = c
                .post(h.url(route))
                .header("x-csrf-token", csrf.as_str())
                .json(body)
                .send()
                .await
                .expect("post")
                .status()
                .as_u16();
            if got == 202 {
                accepted += 1;
            }
            if got != want[i] {
                failures.push(format!(
                    "POST {route} as {who}: got {got}, want {}",
                    want[i]
                ));
            }
        }
    }
    let judge = serde_json::json!({ "priorities": ["emergency"] });
    for (i, (who, c, csrf)) in sessions.iter().enumerate() {
        let got = c
            .post(h.url("/api/events/ev-1/judge"))
            .header("x-csrf-token", csrf.as_str())
            .json(&judge)
            .send()
            .await
            .expect("post")
            .status()
            .as_u16();
        // ev-1 has cases: the 研判 goes to respond as a command (202).
        let want = [401, 202, 403, 403, 403, 202][i];
        if got != want {
            failures.push(format!(
                "POST /api/events/ev-1/judge as {who}: got {got}, want {want}"
            ));
        }
    }
    for (i, (who, c, csrf)) in sessions.iter().enumerate() {
        let got = c
            .post(h.url("/admin/units"))
            .form(&[("csrf", csrf.as_str()), ("id", "x"), ("name", "某单位")])
            .send()
            .await
            .expect("post")
            .status()
            .as_u16();
        let want = match i {
            0 => 401,
            5 => 303,
            _ => 403,
        };
        if got != want {
            failures.push(format!(
                "POST /admin/units as {who}: got {got}, want {want}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix:\n{}",
        failures.join("\n")
    );

    // What was accepted reached the bus with the logged-in actor, keyed by case: the 10 case
    // writes and opens, then for desk1 and admin1 each a mark_notified and a set_priorities for
    // each of ev-1's two open cases.
    let commands = h.commands("test-reader", 18).await;
    assert_eq!(commands.len(), 18);
    let unit_ack = commands
        .iter()
        .find(|c| c.payload.actor.name == "unit_a")
        .expect("unit_a's acknowledge");
    assert_eq!(unit_ack.payload.actor.unit_id.as_deref(), Some("nanming"));
    assert!(matches!(
        &unit_ack.payload.command,
        CaseCommand::Acknowledge { case_id } if case_id == "c-a"
    ));
    for case in ["c-a", "c-b"] {
        let marked = commands
            .iter()
            .filter(|c| {
                matches!(&c.payload.command,
                    CaseCommand::MarkNotified { case_id, notified_at: Some(_), .. } if case_id == case)
            })
            .map(|c| c.payload.actor.name.as_str())
            .collect::<Vec<_>>();
        assert_eq!(marked, ["desk1", "admin1"], "mark_notified of {case}");
        let judged = commands
            .iter()
            .filter(|c| {
                matches!(&c.payload.command,
                    CaseCommand::SetPriorities { case_id, priorities, reason }
                    if case_id == case && priorities == &[Priority::Emergency] && reason == "研判确认")
            })
            .count();
        assert_eq!(judged, 2, "set_priorities of {case}");
    }
    let raws = h.raw_documents("test-reader", 4).await;
    let unit_report = raws
        .iter()
        .find(|r| r.payload.author.as_deref() == Some("unit_b"))
        .expect("unit_b's intake");
    // A unit reports in its own name whatever the form claims.
    assert_eq!(
        unit_report.payload.flags.reported_by_unit.as_deref(),
        Some("huaxi")
    );
    assert!(unit_report.payload.flags.manual);
    assert!(
        raws.iter()
            .all(|r| !r.payload.flags.notified_by_cyberspace_office),
        "marking an item notified re-sends no document"
    );
    assert!(accepted >= 14);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_reads_are_off_by_default() {
    let h = Harness::start(default_config()).await;
    let anon = client();
    for path in ["/api/events", "/api/cases", "/api/items", "/api/stats"] {
        let got = h.get(&anon, path).await.status();
        assert_eq!(got, StatusCode::UNAUTHORIZED, "{path}");
    }
    let page = h.get(&anon, "/").await;
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "the desk page sends to login"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_is_required_on_every_write() {
    let h = seeded().await;
    let (desk, csrf) = session(&h, "desk1").await;
    h.wait_json(&desk, "/api/stats", |v| v["cases"] == 2).await;
    let ack = serde_json::json!({ "action": "acknowledge" });
    for token in [None, Some("wrong"), Some("")] {
        let mut req = desk.post(h.url("/api/cases/c-a/commands")).json(&ack);
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        assert_eq!(
            req.send().await.expect("post").status(),
            StatusCode::FORBIDDEN,
            "{token:?}"
        );
    }
    let ok = desk
        .post(h.url("/api/cases/c-a/commands"))
        .header("x-csrf-token", &csrf)
        .json(&ack)
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), StatusCode::ACCEPTED);

    // Server-rendered forms: logout and admin without the hidden field are refused.
    let (admin, admin_csrf) = session(&h, "admin1").await;
    let create_user = |csrf: Option<&str>| {
        let mut form = vec![
            ("op", "create"),
            ("name", "x1"),
            ("role", "desk"),
            ("password", "long enough pw"),
        ];
        form.extend(csrf.map(|t| ("csrf", t)));
        admin.post(h.url("/admin/users")).form(&form).send()
    };
    let res = create_user(None).await.expect("post");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = create_user(Some(admin_csrf.as_str())).await.expect("post");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = h.get_text(&admin, "/admin").await;
    assert!(page.contains("x1"), "new user listed");
    let res = desk
        .post(h.url("/logout"))
        .form(&[("csrf", "nope")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The login form itself: a POST without the double-submit cookie's twin is refused.
    let fresh = client();
    let res = fresh
        .post(h.url("/login"))
        .form(&[
            ("username", "desk1"),
            ("password", PASSWORD),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_mints_a_new_session_and_kills_the_presented_one() {
    let h = Harness::start_with_users(private_config(), USERS).await;
    let session_cookie = |res: &reqwest::Response| {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("yq_session=") && !v.starts_with("yq_session=;"))
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
    };

    // An attacker-chosen cookie is never adopted.
    let c = client();
    let csrf = login_csrf(&h, &c).await;
    let csrf_cookie = format!("yq_login_csrf={csrf}");
    // The login form posted with the given session cookie (and the CSRF cookie's twin).
    let login_holding = |name: &'static str, session: String| {
        c.post(h.url("/login"))
            .header("cookie", format!("{csrf_cookie}; {session}"))
            .form(&[
                ("username", name),
                ("password", PASSWORD),
                ("csrf", csrf.as_str()),
            ])
            .send()
    };
    let res = login_holding("desk1", "yq_session=attacker-fixed-value".into())
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let first = session_cookie(&res).expect("session cookie set");
    assert_ne!(first, "yq_session=attacker-fixed-value");
    let set = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("yq_session="))
        .unwrap_or_default()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );

    // Logging in again while holding a valid session replaces it; the old token stops working.
    let res = login_holding("leader1", first.clone()).await.expect("post");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let second = session_cookie(&res).expect("new session cookie");
    assert_ne!(first, second);
    let raw = reqwest::Client::new();
    let me_with = |cookie: String| {
        let raw = raw.clone();
        let url = h.url("/api/me");
        async move {
            raw.get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("get")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(
        me_with(first.clone()).await["user"],
        serde_json::Value::Null
    );
    assert_eq!(me_with(second.clone()).await["user"], "leader1");

    // Logout ends the session on the server, not just in the browser.
    let me = me_with(second.clone()).await;
    let res = raw
        .post(h.url("/logout"))
        .header("cookie", second.clone())
        .form(&[("csrf", me["csrf"].as_str().unwrap_or_default())])
        .send()
        .await
        .expect("post");
    assert!(res.status().is_redirection() || res.status().is_success());
    assert_eq!(me_with(second).await["user"], serde_json::Value::Null);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_are_throttled() {
    let h = Harness::start_with_users(private_config(), USERS).await;
    let c = client();
    for _ in 0..5 {
        let res = login_as(&h, &c, "desk1", "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while the account is throttled.
    let res = login_as(&h, &c, "desk1", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Unknown names get the same answer as wrong passwords (no account enumeration).
    let other = client();
    let res = login_as(&h, &other, "nobody", "whatever").await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "same client address is throttled too"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_hears_only_about_its_own_cases_on_the_live_stream() {
    let h = Harness::start_with_users(private_config(), USERS).await;
    let (unit_a, _) = session(&h, "unit_a").await;
    let mut res = unit_a
        .get(h.url("/api/stream"))
        .send()
        .await
        .expect("stream");
    assert_eq!(res.status(), StatusCode::OK);
    let t0 = Utc::now();
    h.case_event(case("c-b", "huaxi", 1, CaseState::Assigned, t0))
        .await;
    h.case_event(case("c-a", "nanming", 1, CaseState::Assigned, t0))
        .await;
    let mut body = String::new();
    while !body.contains("\"case_id\":\"c-a\"") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), res.chunk())
            .await
            .expect("stream delivers")
            .expect("chunk")
            .expect("open");
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!body.contains("c-b"), "another unit's case leaked: {body}");
    // Anonymous callers get nothing when the read API is private.
    let anon = client();
    let res = h.get(&anon, "/api/stream").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_ones_password_needs_the_old_one_and_ends_every_session() {
    let h = Harness::start_with_users(private_config(), USERS).await;
    let (c, csrf) = session(&h, "desk1").await;
    let (other, _) = session(&h, "desk1").await;
    let change = |current: &'static str, new: &'static str| {
        let (c, csrf, url) = (c.clone(), csrf.clone(), h.url("/account/password"));
        async move {
            c.post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current", current),
                    ("new", new),
                    ("confirm", new),
                ])
                .send()
                .await
                .expect("post")
        }
    };
    let res = change("wrong password", "a brand new password").await;
    assert_eq!(
        res.headers()["location"],
        "/account?msg=%E5%BD%93%E5%89%8D%E5%AF%86%E7%A0%81%E4%B8%8D%E6%AD%A3%E7%A1%AE"
    );
    let res = change(PASSWORD, "a brand new password").await;
    assert_eq!(res.headers()["location"], "/login");
    // Both sessions are gone; the new password works, the old one does not.
    for client in [&c, &other] {
        let me = h.me(client).await;
        assert_eq!(me["user"], serde_json::Value::Null);
    }
    assert_eq!(
        login_as(&h, &client(), "desk1", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_as(&h, &client(), "desk1", "a brand new password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_judgement_teaches_the_analyzers_about_its_items() {
    use common::wire::{Correction, CorrectionField, Envelope};
    let h = Harness::start_with_users(private_config(), USERS).await;
    let t0 = Utc::now() - chrono::Duration::hours(1);
    h.item(doc("d1", "ev-9", "南明区停水", "南明区", t0)).await;
    let mut ev = event("ev-9", "南明区停水", 10.0, 1, t0);
    ev.recent_doc_ids = vec!["d1".into()];
    h.event(ev).await;
    let (desk, csrf) = session(&h, "desk1").await;
    h.wait_json(&desk, "/api/stats", |v| v["items"] == 1).await;
    let res = desk
        .post(h.url("/api/events/ev-9/judge"))
        .header("x-csrf-token", csrf.as_str())
        .json(&serde_json::json!({ "priorities": ["emergency"] }))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::OK);
    let corrections: Vec<Correction> = h
        .bus
        .read_all(common::topics::CORRECTIONS)
        .await
        .expect("read")
        .iter()
        .map(|d| {
            Envelope::<Correction>::decode(&d.payload)
                .expect("decode")
                .payload
        })
        .collect();
    let got: Vec<(String, CorrectionField, serde_json::Value, Option<String>)> = corrections
        .iter()
        .map(|c| (c.key(), c.field, c.value.clone(), c.by.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "d1#emergency".into(),
                CorrectionField::Emergency,
                true.into(),
                Some("desk1".into())
            ),
            (
                "d1#false_info".into(),
                CorrectionField::FalseInfo,
                false.into(),
                Some("desk1".into())
            ),
        ]
    );
    assert_eq!(corrections[0].title.as_deref(), Some("南明区停水"));
    assert!(!corrections[0].text.is_empty());
}
