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

/// A client whose connections come from `local` (any 127.0.0.0/8 address reaches the server).
fn client_at(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local.parse::<std::net::IpAddr>().expect("address"))
        .build()
        .expect("client")
}

/// Log in through the form, the POST carrying `X-Forwarded-For: xff` when given.
async fn login_via(
    h: &Harness,
    c: &reqwest::Client,
    name: &str,
    password: &str,
    xff: Option<&str>,
) -> reqwest::Response {
    let csrf = login_csrf(h, c).await;
    let mut req = c.post(h.url("/login")).form(&[
        ("username", name),
        ("password", password),
        ("csrf", csrf.as_str()),
    ]);
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    req.send().await.expect("login post")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_are_throttled() {
    let h = Harness::start_with_users(private_config(), USERS).await;
    let c = client();
    for _ in 0..5 {
        let res = login_as(&h, &c, "desk1", "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while this client is throttled for the account.
    let res = login_as(&h, &c, "desk1", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "30");
    let page = res.text().await.expect("body");
    assert!(page.contains("登录失败次数过多，请30 秒后再试"), "{page}");
    // Unknown names get the same answer as wrong passwords (no account enumeration).
    for _ in 0..5 {
        let res = login_as(&h, &c, "nobody", "whatever").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login_as(&h, &c, "nobody", "whatever").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_an_account_out() {
    let h = Harness::start_with_users(private_config(), USERS).await;
    let stranger = client_at("127.0.0.2");
    for _ in 0..5 {
        let res = login_via(&h, &stranger, "desk1", "wrong password", None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login_via(&h, &stranger, "desk1", PASSWORD, None).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger waits"
    );
    // Inventing forwarded addresses does not help: the peer is not a trusted proxy.
    let res = login_via(&h, &stranger, "desk1", PASSWORD, Some("198.51.100.77")).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "X-Forwarded-For ignored"
    );
    // The account's owner, at another address, logs in as usual.
    let owner = client_at("127.0.0.3");
    let res = login_via(&h, &owner, "desk1", PASSWORD, None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(h.me(&owner).await["user"], "desk1");
    h.stop().await;

    // Behind a trusted proxy every user arrives from the proxy's address: the forwarded address
    // tells them apart.
    let mut config = private_config();
    config.auth.trusted_proxies = vec!["127.0.0.0/8".into()];
    let h = Harness::start_with_users(config, USERS).await;
    let via_proxy = client();
    for _ in 0..5 {
        let res = login_via(&h, &via_proxy, "desk1", "wrong", Some("203.0.113.7")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login_via(&h, &via_proxy, "desk1", PASSWORD, Some("203.0.113.7")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // A proxy chain: the client is the nearest address that is not a trusted proxy.
    let res = login_via(
        &h,
        &via_proxy,
        "desk1",
        PASSWORD,
        Some("203.0.113.7, 127.0.0.9"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = login_via(&h, &client(), "desk1", PASSWORD, Some("198.51.100.2")).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "another user behind the proxy"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_grow_with_each_failure_and_a_success_clears_them() {
    let start = Utc::now();
    let clock = std::sync::Arc::new(common::clock::ManualClock::new(start));
    let h = Harness::start_with_users_at(private_config(), USERS, clock.clone()).await;
    let c = client();
    let attempt = |password: &'static str| {
        let (h, c) = (&h, &c);
        async move { login_as(h, c, "desk1", password).await.status() }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong password").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt(PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    clock.advance(chrono::Duration::seconds(29));
    assert_eq!(attempt(PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    clock.advance(chrono::Duration::seconds(2));
    // The sixth failure doubles the delay.
    assert_eq!(attempt("wrong password").await, StatusCode::UNAUTHORIZED);
    clock.advance(chrono::Duration::seconds(59));
    assert_eq!(attempt(PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(attempt(PASSWORD).await, StatusCode::SEE_OTHER);
    // The success forgot the failures: the next wrong password costs no wait.
    assert_eq!(attempt("wrong password").await, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(PASSWORD).await, StatusCode::SEE_OTHER);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spraying_random_names_does_not_reset_a_throttled_account() {
    let mut config = private_config();
    config.auth.login_tracked_keys = 8;
    let h = Harness::start_with_users(config, USERS).await;
    let c = client();
    for _ in 0..5 {
        let res = login_as(&h, &c, "desk1", "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Far more names than the limiter holds.
    for i in 0..24 {
        let res = login_as(&h, &c, &format!("spray-{i}"), "whatever").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login_as(&h, &c, "desk1", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
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
    assert_eq!(res.headers()["location"], "/account?msg=wrong_password");
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

/// The strings that would give a case or a unit assignment away in a body.
const INTERNAL: &[&str] = &[
    "c-a",
    "nanming",
    "wudang",
    "市水务局",
    "owner",
    "reported_by_unit\":\"",
];

fn leaks(body: &str) -> Vec<&'static str> {
    INTERNAL
        .iter()
        .copied()
        .filter(|s| body.contains(s))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_readers_get_the_public_feed_only() {
    let h = Harness::start_with_users(public_config(), USERS).await;
    let t0 = Utc::now() - chrono::Duration::hours(1);
    let mut crawled = doc("d1", "ev-1", "南明区停水", "南明区", t0);
    crawled.department = Some("市水务局".into());
    h.item(crawled).await;
    // A unit's report of an emergency (manual intake) is internal, and so is its event.
    let mut reported = doc("d2", "ev-2", "乌当区山体滑坡", "乌当区", t0);
    reported.flags.manual = true;
    reported.flags.reported_by_unit = Some("wudang".into());
    h.item(reported).await;
    let mut ev1 = event("ev-1", "南明区停水", 10.0, 1, t0);
    ev1.department = Some("市水务局".into());
    h.event(ev1).await;
    let mut ev2 = event("ev-2", "乌当区山体滑坡", 20.0, 1, t0);
    ev2.flags.manual = true;
    ev2.flags.reported_by_unit = Some("wudang".into());
    h.event(ev2).await;
    h.case_event(case("c-a", "nanming", 1, CaseState::Assigned, t0))
        .await;
    let (desk, _) = session(&h, "desk1").await;
    h.wait_json(&desk, "/api/stats", |v| {
        v["cases"] == 1 && v["items"] == 2 && v["events"] == 2
    })
    .await;
    // The desk sees what the anonymous reader must not: the test can tell the two apart.
    let events = h.get_text(&desk, "/api/events").await;
    assert!(events.contains("\"case_ids\":[\"c-a\"]"), "{events}");
    assert!(events.contains("市水务局") && events.contains("wudang"));

    let anon = client();
    for path in ["/api/cases", "/api/cases?state=open", "/api/cases/c-a"] {
        let res = h.get(&anon, path).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body = res.text().await.expect("body");
        assert!(body.contains("请先登录"), "{path}: {body}");
        assert!(leaks(&body).is_empty(), "{path}: {body}");
    }
    let events = h.get_json(&anon, "/api/events").await;
    let ids: Vec<&str> = events
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(ids, ["ev-1"], "the unit's report stays internal");
    assert_eq!(events[0]["case_ids"], serde_json::json!([]));
    assert_eq!(events[0]["department"], serde_json::Value::Null);
    let items = h.get_json(&anon, "/api/items").await;
    let ids: Vec<&str> = items
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|i| i["doc_id"].as_str())
        .collect();
    assert_eq!(ids, ["d1"]);
    for path in ["/api/events", "/api/items", "/api/events/ev-1"] {
        let body = h.get_text(&anon, path).await;
        assert!(
            leaks(&body).is_empty(),
            "{path} leaks {:?}: {body}",
            leaks(&body)
        );
    }
    assert_eq!(
        h.get(&anon, "/api/events/ev-2").await.status(),
        StatusCode::NOT_FOUND
    );

    // The live stream: a case change reaches the desk, never the anonymous viewer; the next
    // crawled item reaches both, in the public shape.
    let anon_stream = anon.get(h.url("/api/stream")).send().await.expect("stream");
    let desk_stream = desk.get(h.url("/api/stream")).send().await.expect("stream");
    h.case_event(case("c-a", "nanming", 2, CaseState::Acknowledged, t0))
        .await;
    h.wait_json(&desk, "/api/cases/c-a", |v| {
        v["case"]["state"] == "acknowledged"
    })
    .await;
    h.item(doc("d3", "ev-1", "南明区停水第二天", "南明区", t0))
        .await;
    let seen = |frames: &[(String, String)]| {
        frames
            .iter()
            .any(|(e, d)| e == "item" && d.contains("\"doc_id\":\"d3\""))
    };
    let desk_frames = read_sse(desk_stream, seen).await;
    assert!(
        desk_frames
            .iter()
            .any(|(e, d)| e == "case" && d.contains("c-a")),
        "the desk hears about the case: {desk_frames:?}"
    );
    let anon_frames = read_sse(anon_stream, seen).await;
    for (kind, data) in &anon_frames {
        assert!(kind == "item" || kind == "event", "{kind}: {data}");
        assert!(leaks(data).is_empty(), "{kind} leaks: {data}");
    }
    h.stop().await;
}

/// Events and items behind two units' cases; ev-1 has a case of each unit.
async fn two_units_feed(config: dashboards::Config) -> Harness {
    let h = Harness::start_with_users(config, USERS).await;
    let t0 = Utc::now() - chrono::Duration::hours(1);
    h.item(doc("d1", "ev-1", "南明区停水", "南明区", t0)).await;
    h.item(doc("d2", "ev-2", "花溪区道路塌陷", "花溪区", t0))
        .await;
    h.item(doc("d3", "ev-3", "云岩区噪音", "云岩区", t0)).await;
    h.event(event("ev-1", "南明区停水", 30.0, 1, t0)).await;
    h.event(event("ev-2", "花溪区道路塌陷", 20.0, 1, t0)).await;
    h.event(event("ev-3", "云岩区噪音", 10.0, 1, t0)).await;
    h.case_event(case("c-a", "nanming", 1, CaseState::Assigned, t0))
        .await;
    h.case_event(case("c-h1", "huaxi", 1, CaseState::Assigned, t0))
        .await;
    let mut other = case("c-h2", "huaxi", 1, CaseState::Assigned, t0);
    other.case.event_ids = vec!["ev-2".into()];
    h.case_event(other).await;
    h
}

/// (event id, its case ids) of `/api/events`, and the doc ids of `/api/items`, as `c` sees them.
async fn feed_of(h: &Harness, c: &reqwest::Client) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let events = h.get_json(c, "/api/events").await;
    let events = events
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            let cases = e["case_ids"]
                .as_array()
                .expect("case ids")
                .iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect();
            (
                e["event_id"].as_str().unwrap_or_default().to_string(),
                cases,
            )
        })
        .collect();
    let items = h.get_json(c, "/api/items").await;
    let mut items: Vec<String> = items
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|i| i["doc_id"].as_str().map(String::from))
        .collect();
    items.sort();
    (events, items)
}

fn owned(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    pairs
        .iter()
        .map(|(e, cs)| (e.to_string(), cs.iter().map(|c| c.to_string()).collect()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_reads_its_own_cases_and_the_items_behind_them() {
    let h = two_units_feed(private_config()).await;
    let (desk, _) = session(&h, "desk1").await;
    h.wait_json(&desk, "/api/stats", |v| {
        v["cases"] == 3 && v["items"] == 3 && v["events"] == 3
    })
    .await;
    let mut desk_feed = feed_of(&h, &desk).await;
    desk_feed.0[0].1.sort();
    assert_eq!(
        desk_feed,
        (
            owned(&[
                ("ev-1", &["c-a", "c-h1"]),
                ("ev-2", &["c-h2"]),
                ("ev-3", &[])
            ]),
            vec!["d1".into(), "d2".into(), "d3".into()]
        )
    );
    let (unit_a, _) = session(&h, "unit_a").await;
    assert_eq!(
        feed_of(&h, &unit_a).await,
        (owned(&[("ev-1", &["c-a"])]), vec!["d1".into()])
    );
    let (unit_b, _) = session(&h, "unit_b").await;
    assert_eq!(
        feed_of(&h, &unit_b).await,
        (
            owned(&[("ev-1", &["c-h1"]), ("ev-2", &["c-h2"])]),
            vec!["d1".into(), "d2".into()]
        )
    );
    assert_eq!(h.get(&unit_a, "/api/events/ev-2").await.status(), 404);
    assert_eq!(h.get(&unit_a, "/api/events/ev-3").await.status(), 404);
    let detail = h.get_json(&unit_a, "/api/events/ev-1").await;
    assert_eq!(detail["event"]["case_ids"], serde_json::json!(["c-a"]));

    // The live stream follows the same rule: unit_a hears of d5 (its case's event) and not of
    // d4, sent before it.
    let stream = unit_a
        .get(h.url("/api/stream"))
        .send()
        .await
        .expect("stream");
    let t0 = Utc::now();
    h.item(doc("d4", "ev-2", "花溪区道路塌陷续", "花溪区", t0))
        .await;
    h.wait_json(&desk, "/api/stats", |v| v["items"] == 4).await;
    h.item(doc("d5", "ev-1", "南明区停水续", "南明区", t0))
        .await;
    let frames = read_sse(stream, |f| {
        f.iter()
            .any(|(e, d)| e == "item" && d.contains("\"doc_id\":\"d5\""))
    })
    .await;
    assert!(
        !frames
            .iter()
            .any(|(_, d)| d.contains("d4") || d.contains("c-h")),
        "{frames:?}"
    );
    h.stop().await;

    // With the whole feed on, a unit reads everything, still without other units' case ids.
    let mut config = private_config();
    config.auth.units_read_whole_feed = true;
    let h = two_units_feed(config).await;
    let (desk, _) = session(&h, "desk1").await;
    h.wait_json(&desk, "/api/stats", |v| {
        v["cases"] == 3 && v["items"] == 3 && v["events"] == 3
    })
    .await;
    let (unit_a, _) = session(&h, "unit_a").await;
    assert_eq!(
        feed_of(&h, &unit_a).await,
        (
            owned(&[("ev-1", &["c-a"]), ("ev-2", &[]), ("ev-3", &[])]),
            vec!["d1".into(), "d2".into(), "d3".into()]
        )
    );
    h.stop().await;
}

/// Read SSE frames from a streaming response until `done` says stop.
async fn read_sse(
    mut res: reqwest::Response,
    mut done: impl FnMut(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let mut buf = String::new();
    let mut frames = Vec::new();
    while !done(&frames) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), res.chunk())
            .await
            .expect("stream keeps delivering")
            .expect("chunk")
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut event = String::from("message");
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if !data.is_empty() {
                frames.push((event, data));
            }
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_on_admin_and_account_are_only_what_the_server_chose() {
    let h = Harness::start_with_users(private_config(), USERS).await;
    let (admin, csrf) = session(&h, "admin1").await;
    let phishing = "请立即访问 http://evil.example/login 重新输入密码";
    let query = |page: &str, msg: &str| {
        let q: String = form_urlencoded_msg(msg);
        format!("{page}?msg={q}")
    };
    for page in ["/admin", "/account"] {
        for msg in [phishing, "用户已创建", "<b>系统通知</b>"] {
            let body = h.get_text(&admin, &query(page, msg)).await;
            assert!(!body.contains("evil.example"), "{page}: {body}");
            assert!(!body.contains("系统通知"), "{page}: {body}");
            assert!(!body.contains(r#"class="notice""#), "{page} {msg}: {body}");
        }
    }
    // A form post comes back with a code, which the page turns into its own text.
    let res = admin
        .post(h.url("/admin/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("op", "create"),
            ("name", "x1"),
            ("role", "desk"),
            ("password", "short"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.headers()["location"], "/admin?msg=short_password");
    let body = h.get_text(&admin, "/admin?msg=short_password").await;
    assert!(
        body.contains(r#"<p class="notice" role="status">密码至少 10 个字符</p>"#),
        "{body}"
    );
    let res = admin
        .post(h.url("/admin/units"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("id", "wudang"),
            ("name", "乌当区"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.headers()["location"], "/admin?msg=unit_saved");
    let body = h.get_text(&admin, "/account?msg=passwords_differ").await;
    assert!(body.contains("两次输入的新密码不一致"), "{body}");
    h.stop().await;
}

/// Percent-encode a query value (UTF-8 bytes).
fn form_urlencoded_msg(msg: &str) -> String {
    msg.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_login_token_is_refused() {
    let clock = std::sync::Arc::new(common::clock::ManualClock::new(Utc::now()));
    let h = Harness::start_with_users_at(private_config(), USERS, clock.clone()).await;
    // No cookie jar: each post carries exactly the cookie and field given here.
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let post = |cookie: String, field: String| {
        let (raw, url) = (raw.clone(), h.url("/login"));
        async move {
            raw.post(url)
                .header("cookie", format!("yq_login_csrf={cookie}"))
                .form(&[
                    ("username", "desk1"),
                    ("password", PASSWORD),
                    ("csrf", field.as_str()),
                ])
                .send()
                .await
                .expect("post")
                .status()
        }
    };
    // A value an attacker planted in the cookie and repeated in the form: refused.
    let planted = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_eq!(
        post(planted.into(), planted.into()).await,
        StatusCode::FORBIDDEN
    );
    // A token of this server with its expiry pushed back or its nonce swapped: refused.
    let issued = login_csrf(&h, &client()).await;
    let parts: Vec<&str> = issued.split('.').collect();
    assert_eq!(parts.len(), 3, "{issued}");
    let later = parts[1].parse::<i64>().expect("expiry") + 86_400;
    for forged in [
        format!("{}.{later}.{}", parts[0], parts[2]),
        format!("{planted}.{}.{}", parts[1], parts[2]),
    ] {
        assert_eq!(post(forged.clone(), forged).await, StatusCode::FORBIDDEN);
    }
    // The token as issued works, while it is fresh.
    assert_eq!(
        post(issued.clone(), issued.clone()).await,
        StatusCode::SEE_OTHER
    );
    let stale = login_csrf(&h, &client()).await;
    clock.advance(chrono::Duration::minutes(31));
    assert_eq!(post(stale.clone(), stale).await, StatusCode::FORBIDDEN);
    h.stop().await;
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_cookies_are_secure_and_hsts_is_sent() {
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // Off (plain HTTP): no HSTS, no Secure, plain names.
    let h = Harness::start_with_users(private_config(), USERS).await;
    for path in ["/healthz", "/login"] {
        let res = h.get(&raw, path).await;
        assert!(
            res.headers().get("strict-transport-security").is_none(),
            "{path}"
        );
    }
    let form = h.get(&raw, "/login").await;
    let cookies = set_cookies(&form);
    assert!(
        cookies.len() == 1
            && cookies[0].starts_with("yq_login_csrf=")
            && !cookies[0].contains("Secure"),
        "{cookies:?}"
    );
    h.stop().await;

    // On (behind a TLS proxy): HSTS on every response, Secure __Host- cookies, and logging in
    // works with them.
    let mut config = private_config();
    config.auth.https = true;
    let h = Harness::start_with_users(config, USERS).await;
    for path in ["/healthz", "/login", "/api/me", "/assets/app.css"] {
        let res = h.get(&raw, path).await;
        assert_eq!(
            res.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
    }
    let form = h.get(&raw, "/login").await;
    let cookie = set_cookies(&form).pop().expect("login cookie");
    assert!(cookie.starts_with("__Host-yq_login_csrf="), "{cookie}");
    assert!(
        cookie.ends_with("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"),
        "{cookie}"
    );
    let csrf = form_csrf(&form.text().await.expect("body"));
    let res = raw
        .post(h.url("/login"))
        .header("cookie", format!("__Host-yq_login_csrf={csrf}"))
        .form(&[
            ("username", "desk1"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("__Host-yq_session=") && !c.contains("Max-Age=0"))
        .expect("session cookie");
    assert!(session.ends_with("; Secure"), "{session}");
    let me: serde_json::Value = raw
        .get(h.url("/api/me"))
        .header("cookie", session.split(';').next().unwrap_or_default())
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"], "desk1");
    // An unprefixed cookie (what a sibling sub-domain could set) is not a session.
    let token = session.split(';').next().unwrap_or_default();
    let plain = token.trim_start_matches("__Host-");
    let me: serde_json::Value = raw
        .get(h.url("/api/me"))
        .header("cookie", plain)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"], serde_json::Value::Null);
    h.stop().await;

    // Configurations written with the former name keep working.
    let old: dashboards::AuthConfig =
        serde_json::from_value(serde_json::json!({ "secure_cookies": true })).expect("config");
    assert!(old.https);
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
