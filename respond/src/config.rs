//! The response tracker's configuration: rules for opening cases, the unit registry, the
//! domain → department map, tiers, reminders and notification channels.
//!
//! Every field has a default. The small numeric sections default in Rust (kept equal to
//! `default.toml` by a test); the unit registry and domain map live only in `default.toml`, so the
//! seed's unit names are written down once.

use std::collections::BTreeMap;

use common::wire::{Priority, Severity, UnitRef};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Owner of cases whose responsible unit is unclear (七.1).
    pub coordination_unit: String,
    /// Co-coordinates unclear cases with the coordination desk (政府办公厅会同宣传部门).
    pub coordination_partner_unit: String,
    pub propaganda_unit: String,
    pub cyberspace_unit: String,
    /// Escalation target on every breach (督查督办).
    pub supervision_unit: String,
    /// Who receives the referral record of false information (公安机关、网络监管部门).
    pub referral_units: Vec<String>,
    /// Told of every 特别重大/重大 case as it opens (七.4 牵头单位: 宣传部、应急办、网信办、新闻办;
    /// 七.3 重大舆情督查督办: 督办督查局).
    pub major_notify_units: Vec<String>,
    pub unknown_place_owner: UnknownPlaceOwner,
    /// At start with an empty store, rebuild it from the case-event topic (the source of truth
    /// when the store's disk is lost or the tracker moves to another machine).
    pub rebuild_from_case_events: bool,
    /// The rebuild ends when the topic stays quiet this long...
    pub rebuild_idle_secs: f64,
    /// ...once the broker's count of messages has arrived; before that it waits this long.
    pub rebuild_wait_secs: f64,
    /// How long handled message ids are remembered to drop redeliveries.
    pub processed_retention_days: f64,
    /// A reply to a cyberspace-office notification is due this many hours after it became
    /// known (0 disables the reminder).
    pub cyberspace_reply_hours: f64,
    pub local_departments: Vec<LocalDepartment>,
    pub rules: OpenRules,
    pub tiers: TierHours,
    pub reminders: Reminders,
    pub notify: NotifyConfig,
    pub units: Vec<Unit>,
    /// Domain (领域) → unit id of the city department in charge.
    pub domains: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        let tables = builtin_tables();
        Self {
            coordination_unit: "general_office".into(),
            coordination_partner_unit: "propaganda".into(),
            propaganda_unit: "propaganda".into(),
            cyberspace_unit: "cyberspace".into(),
            supervision_unit: "supervision".into(),
            referral_units: vec!["public_security".into(), "cyberspace".into()],
            major_notify_units: vec![
                "propaganda".into(),
                "emergency_office".into(),
                "cyberspace".into(),
                "news_office".into(),
                "supervision".into(),
            ],
            unknown_place_owner: UnknownPlaceOwner::Department,
            rebuild_from_case_events: true,
            rebuild_idle_secs: 2.0,
            rebuild_wait_secs: 30.0,
            processed_retention_days: 30.0,
            cyberspace_reply_hours: 24.0,
            local_departments: Vec::new(),
            rules: OpenRules::default(),
            tiers: TierHours::default(),
            reminders: Reminders::default(),
            notify: NotifyConfig::default(),
            units: tables.units,
            domains: tables.domains,
        }
    }
}

/// The tables that only `default.toml` spells out. Parsed leniently (no `deny_unknown_fields`)
/// so that the rest of the file does not have to be described twice.
#[derive(Deserialize, Default)]
struct BuiltinFile {
    #[serde(default)]
    respond: BuiltinTables,
}

#[derive(Deserialize, Default)]
struct BuiltinTables {
    #[serde(default)]
    units: Vec<Unit>,
    #[serde(default)]
    domains: BTreeMap<String, String>,
}

fn builtin_tables() -> BuiltinTables {
    match toml::from_str::<BuiltinFile>(crate::DEFAULT_CONFIG) {
        Ok(file) => file.respond,
        Err(e) => {
            // A broken embedded file is a build defect that the config tests catch; at run time
            // the stage still starts with an empty registry (everything goes to the desk).
            tracing::error!(error = %e, "embedded respond default.toml does not parse");
            BuiltinTables::default()
        }
    }
}

impl Config {
    /// The defaults of `default.toml` (what the CLI gets before any file or env override).
    pub fn from_default_toml() -> Result<Self, crate::Error> {
        Self::from_toml(crate::DEFAULT_CONFIG)
    }

    /// Parse a TOML document with a `[respond]` table (missing keys take their defaults).
    pub fn from_toml(text: &str) -> Result<Self, crate::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            respond: Config,
        }
        toml::from_str::<File>(text)
            .map(|f| f.respond)
            .map_err(|e| crate::Error::Config(e.to_string()))
    }

    /// Check the cross references (unit ids named by other keys exist).
    pub fn validate(&self) -> Result<(), crate::Error> {
        let mut missing = Vec::new();
        let mut check = |what: &str, id: &str| {
            if self.unit(id).is_none() {
                missing.push(format!("{what} `{id}`"));
            }
        };
        check("coordination_unit", &self.coordination_unit);
        check("coordination_partner_unit", &self.coordination_partner_unit);
        check("propaganda_unit", &self.propaganda_unit);
        check("cyberspace_unit", &self.cyberspace_unit);
        check("supervision_unit", &self.supervision_unit);
        for id in &self.referral_units {
            check("referral_units", id);
        }
        for id in &self.major_notify_units {
            check("major_notify_units", id);
        }
        for d in &self.local_departments {
            check("local_departments.unit", &d.unit);
        }
        for (domain, id) in &self.domains {
            check(&format!("domains.{domain}"), id);
        }
        if !missing.is_empty() {
            return Err(crate::Error::Config(format!(
                "unknown unit ids: {}",
                missing.join(", ")
            )));
        }
        for f in &self.reminders.fractions {
            if !(*f > 0.0 && *f < 1.0) {
                return Err(crate::Error::Config(format!(
                    "reminders.fractions must lie strictly between 0 and 1, got {f}"
                )));
            }
        }
        let hours = [
            self.tiers.major_authoritative_info_hours,
            self.tiers.major_press_conference_hours,
            self.tiers.standard_response_hours,
        ];
        if hours.iter().any(|h| *h <= 0.0) {
            return Err(crate::Error::Config("tier hours must be positive".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for ch in &self.notify.channels {
            let bad = |m: &str| crate::Error::Config(format!("notify channel `{}`: {m}", ch.name));
            if !names.insert(ch.name.as_str()) {
                return Err(bad("duplicate name"));
            }
            match ch.kind {
                ChannelKind::Webhook | ChannelKind::Dingtalk | ChannelKind::Wecom => {
                    let url = ch.url.as_deref().ok_or_else(|| bad("url is required"))?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(bad("url must be http(s)"));
                    }
                }
                ChannelKind::Smtp => {
                    if ch.smtp_host.is_none() || ch.from.is_none() || ch.to.is_empty() {
                        return Err(bad("smtp needs smtp_host, from and to"));
                    }
                }
            }
        }
        Ok(())
    }

    pub fn unit(&self, id: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.id == id)
    }

    pub fn unit_ref(&self, id: &str) -> UnitRef {
        match self.unit(id) {
            Some(u) => u.to_ref(),
            // Unknown ids still render: the id stands in for the name.
            None => UnitRef {
                id: id.to_string(),
                name: id.to_string(),
            },
        }
    }

    /// A unit by id, name or alias (as an analyzer or an operator might write it).
    pub fn find_unit(&self, text: &str) -> Option<&Unit> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        self.units
            .iter()
            .find(|u| u.id == text || u.name == text)
            .or_else(|| {
                self.units
                    .iter()
                    .find(|u| u.aliases.iter().any(|a| a == text))
            })
    }

    /// Registry units that look like `text` (a mistyped id or a partial name), closest first,
    /// at most `n`: what an error message offers instead of a unit that does not exist.
    pub fn units_like(&self, text: &str, n: usize) -> Vec<&Unit> {
        let text = text.trim().to_lowercase();
        if text.is_empty() {
            return Vec::new();
        }
        let mut scored: Vec<(usize, &Unit)> = self
            .units
            .iter()
            .filter_map(|u| {
                let spellings = std::iter::once(u.id.to_lowercase())
                    .chain(std::iter::once(u.name.clone()))
                    .chain(u.aliases.iter().cloned());
                let best = spellings
                    .map(|s| {
                        if s.contains(&text) || (s.chars().count() >= 2 && text.contains(&s)) {
                            0
                        } else {
                            edit_distance(&s, &text)
                        }
                    })
                    .min()?;
                // A third of the text may be wrong (at least two characters).
                let allowed = (text.chars().count() / 3).max(2);
                (best <= allowed).then_some((best, u))
            })
            .collect();
        scored.sort_by_key(|(d, _)| *d);
        scored.into_iter().take(n).map(|(_, u)| u).collect()
    }

    /// The county government of a district / county-level city / county, by name or alias.
    pub fn county_unit(&self, county: &str) -> Option<&Unit> {
        let county = county.trim();
        if county.is_empty() {
            return None;
        }
        let county = county.strip_prefix("贵阳市").unwrap_or(county);
        self.units
            .iter()
            .filter(|u| u.kind == UnitKind::County)
            .find(|u| {
                u.county.as_deref() == Some(county)
                    || u.name == county
                    || u.id == county
                    || u.aliases.iter().any(|a| a == county)
            })
    }

    /// The districts/counties a text names, by full name or alias, in registry order.
    pub fn counties_in_text(&self, text: &str) -> Vec<String> {
        self.units
            .iter()
            .filter(|u| u.kind == UnitKind::County)
            .filter_map(|u| {
                let county = u.county.as_deref()?;
                let named = text.contains(county)
                    || u.aliases
                        .iter()
                        .any(|a| a.chars().count() >= 2 && text.contains(a.as_str()));
                named.then(|| county.to_string())
            })
            .collect()
    }

    /// The city department in charge of a domain, by exact key, then case-insensitively and
    /// without a `news_` prefix (the analyzer's news classes).
    pub fn domain_department(&self, domain: &str) -> Option<&Unit> {
        let domain = domain.trim();
        if domain.is_empty() {
            return None;
        }
        let id = self.domains.get(domain).or_else(|| {
            let norm = domain.to_lowercase();
            let norm = norm.strip_prefix("news_").unwrap_or(&norm).to_string();
            self.domains
                .iter()
                .find(|(k, _)| k.to_lowercase() == norm)
                .map(|(_, v)| v)
        })?;
        self.unit(id)
    }
}

/// Levenshtein distance over characters (ids are ASCII, names Chinese).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownPlaceOwner {
    Department,
    Coordination,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDepartment {
    pub county: String,
    pub domain: String,
    pub unit: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// Coordination, propaganda, cyberspace, news and supervision desks.
    Desk,
    CityDepartment,
    /// A district, county-level city or county government.
    County,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub kind: UnitKind,
    /// For county governments: the district/county name as the analyzer writes it.
    #[serde(default)]
    pub county: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Leaders escalated to on a breach of this unit's deadlines (role names).
    #[serde(default)]
    pub leaders: Vec<String>,
}

impl Unit {
    pub fn to_ref(&self) -> UnitRef {
        UnitRef {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenRules {
    /// Monitoring priorities (七.2) that open a case, each once the event is at least this hot
    /// (a priority not listed never opens a case on its own).
    pub priority_min_heat: BTreeMap<Priority, f64>,
    pub min_heat: f64,
    pub min_severity: Option<Severity>,
    pub open_when_notified_by_cyberspace_office: bool,
    pub open_when_reported_by_unit: bool,
    pub skip_elsewhere: bool,
}

impl Default for OpenRules {
    fn default() -> Self {
        Self {
            priority_min_heat: BTreeMap::from([
                (Priority::Emergency, 0.0),
                (Priority::FalseInfo, 0.0),
                (Priority::Credibility, 0.0),
                (Priority::Decision, 0.0),
                (Priority::Moral, 0.0),
                (Priority::PublicInterest, 40.0),
            ]),
            min_heat: 80.0,
            min_severity: Some(Severity::Large),
            open_when_notified_by_cyberspace_office: true,
            open_when_reported_by_unit: true,
            skip_elsewhere: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierHours {
    pub major_authoritative_info_hours: f64,
    pub major_press_conference_hours: f64,
    pub standard_response_hours: f64,
    pub continued_release_every_hours: f64,
}

impl Default for TierHours {
    fn default() -> Self {
        Self {
            major_authoritative_info_hours: 5.0,
            major_press_conference_hours: 24.0,
            standard_response_hours: 48.0,
            continued_release_every_hours: 24.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reminders {
    pub fractions: Vec<f64>,
    pub escalate_every_hours: f64,
}

impl Default for Reminders {
    fn default() -> Self {
        Self {
            fractions: vec![0.5, 0.8],
            escalate_every_hours: 4.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Appended to every notice as its link, with `{case_id}` replaced (empty: no link), e.g.
    /// `https://yuqing.example.gov.cn/inbox?case={case_id}`.
    pub case_link: String,
    pub backoff_initial_secs: f64,
    pub backoff_max_secs: f64,
    pub request_timeout_secs: f64,
    pub channels: Vec<Channel>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            case_link: String::new(),
            backoff_initial_secs: 2.0,
            backoff_max_secs: 600.0,
            request_timeout_secs: 10.0,
            channels: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// POST of the notification as JSON.
    Webhook,
    /// DingTalk custom robot (自定义机器人), signed with its secret (加签).
    Dingtalk,
    /// WeCom group robot (企业微信群机器人); the key is part of the URL.
    Wecom,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    #[default]
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Recipient ids this channel delivers: unit ids, `leaders:<unit id>`, or `*` for all.
    #[serde(default = "everyone")]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub smtp_host: Option<String>,
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub smtp_tls: SmtpTls,
    #[serde(default)]
    pub smtp_user: Option<String>,
    #[serde(default)]
    pub smtp_password: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    /// Deliveries per minute; DingTalk and WeCom robots throttle above 20 (and DingTalk then
    /// blocks the robot for 10 minutes), so those default to 20.
    #[serde(default)]
    pub max_per_minute: Option<u32>,
}

fn yes() -> bool {
    true
}

fn everyone() -> Vec<String> {
    vec!["*".into()]
}

impl Channel {
    /// The effective per-minute limit, if any.
    pub fn rate_limit(&self) -> Option<u32> {
        self.max_per_minute.or(match self.kind {
            ChannelKind::Dingtalk | ChannelKind::Wecom => Some(20),
            ChannelKind::Webhook | ChannelKind::Smtp => None,
        })
    }

    /// Whether this channel delivers notifications addressed to `recipient`.
    pub fn serves(&self, recipient: &str) -> bool {
        self.recipients.iter().any(|r| {
            r == "*" || r == recipient || (r == "leaders:*" && recipient.starts_with("leaders:"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_unit_finds_its_neighbours() {
        let c = Config::from_default_toml().unwrap();
        let ids = |text: &str| -> Vec<String> {
            c.units_like(text, 3).iter().map(|u| u.id.clone()).collect()
        };
        assert_eq!(
            ids("educaton").first().map(String::as_str),
            Some("education")
        );
        assert_eq!(ids("南明").first().map(String::as_str), Some("nanming"));
        assert!(ids("nanmign").contains(&"nanming".to_string()));
        assert!(ids("zzzzzzzzzz").is_empty());
        assert!(ids("").is_empty());
    }

    #[test]
    fn default_toml_parses_validates_and_matches_rust_defaults() {
        let parsed = Config::from_default_toml().unwrap();
        parsed.validate().unwrap();
        let rust = Config::default();
        assert_eq!(parsed.tiers, rust.tiers);
        assert_eq!(parsed.reminders, rust.reminders);
        assert_eq!(parsed.notify, rust.notify);
        assert_eq!(
            serde_json::to_value(&parsed.rules).unwrap(),
            serde_json::to_value(&rust.rules).unwrap()
        );
        assert_eq!(parsed.coordination_unit, rust.coordination_unit);
        assert_eq!(parsed.referral_units, rust.referral_units);
        assert_eq!(parsed.major_notify_units, rust.major_notify_units);
        assert_eq!(
            parsed.rebuild_from_case_events,
            rust.rebuild_from_case_events
        );
        assert_eq!(parsed.rebuild_idle_secs, rust.rebuild_idle_secs);
        assert_eq!(parsed.rebuild_wait_secs, rust.rebuild_wait_secs);
        assert_eq!(
            parsed.processed_retention_days,
            rust.processed_retention_days
        );
        assert_eq!(parsed.units.len(), rust.units.len());
        assert!(parsed.units.len() >= 40, "{}", parsed.units.len());
    }

    #[test]
    fn registry_has_the_ten_localities_and_the_seed_departments() {
        let c = Config::default();
        for county in [
            "南明区",
            "云岩区",
            "花溪区",
            "乌当区",
            "白云区",
            "观山湖区",
            "清镇市",
            "开阳县",
            "息烽县",
            "修文县",
        ] {
            let u = c.county_unit(county).unwrap();
            assert!(u.name.starts_with(county), "{county} → {}", u.name);
        }
        assert_eq!(c.county_unit("南明区").unwrap().id, "nanming");
        let dept = |d: &str| c.domain_department(d).map(|u| u.name.clone());
        assert_eq!(dept("安全生产").as_deref(), Some("市安监局"));
        assert_eq!(dept("食品药品").as_deref(), Some("市食品药品监管局"));
        assert_eq!(dept("教育").as_deref(), Some("市教育局"));
        assert_eq!(dept("征地拆迁").as_deref(), Some("市国土资源局"));
        assert_eq!(dept("news_edu").as_deref(), Some("市教育局"));
        assert_eq!(dept("Realty").as_deref(), Some("市住房城乡建设局"));
        assert_eq!(dept("地震").as_deref(), Some("市政府应急办"));
        assert_eq!(dept("news_game"), None);
    }

    #[test]
    fn unknown_keys_and_dangling_unit_ids_are_errors() {
        let err = Config::from_toml("[respond]\ncordination_unit = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("cordination_unit"), "{err}");
        let cfg = Config::from_toml("[respond]\nsupervision_unit = \"nobody\"\n").unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(
            err.to_string().contains("supervision_unit `nobody`"),
            "{err}"
        );
    }

    #[test]
    fn channels_are_checked() {
        let cfg =
            Config::from_toml("[[respond.notify.channels]]\nname = \"d\"\nkind = \"dingtalk\"\n")
                .unwrap();
        let err = cfg.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad respond configuration: notify channel `d`: url is required"
        );
        let err = Config::from_toml("[[respond.notify.channels]]\nname = \"d\"\nkind = \"fax\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("fax"), "{err}");
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let cfg = Config::from_toml("[respond.tiers]\nstandard_response_hours = 24.0\n").unwrap();
        assert_eq!(cfg.tiers.standard_response_hours, 24.0);
        assert_eq!(cfg.tiers.major_authoritative_info_hours, 5.0);
        assert!(cfg.county_unit("花溪区").is_some());
    }
}
