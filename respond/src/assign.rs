//! Who owns a case (七.1 属地管理、分级负责、谁主管谁负责) and whether an event needs one.
//! Pure functions over data: no IO, no clock.

use common::wire::{EventUpdate, Jurisdiction, Priority, Severity, UnitRef};
use serde::{Deserialize, Serialize};

use crate::config::{Config, UnitKind, UnknownPlaceOwner};

/// What assignment looks at; built from an event update or an analyzed item.
#[derive(Debug, Clone, Default)]
pub struct AssignInput {
    pub priorities: Vec<Priority>,
    pub domain: Option<String>,
    /// The city department the analyzer named, if any (a name, alias or unit id).
    pub department: Option<String>,
    pub jurisdiction: Jurisdiction,
    /// The unit that reported an emergency not yet online.
    pub reported_by_unit: Option<String>,
    /// Title and keywords: searched for a district/county name when the place is unknown.
    pub text: String,
}

impl AssignInput {
    pub fn from_event(event: &EventUpdate) -> Self {
        Self {
            priorities: event.priorities.clone(),
            domain: event.domain.clone(),
            department: event.department.clone(),
            jurisdiction: event.jurisdiction.clone(),
            reported_by_unit: event.flags.reported_by_unit.clone(),
            text: format!("{} {}", event.title, event.keywords.join(" ")),
        }
    }
}

/// Which rule of (七.1) decided the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignRule {
    /// 涉及市政府重大政策、重要工作部署 → 市直相关部门
    CityPolicy,
    /// 涉及区(市、县) → 属地
    SingleLocality,
    /// 涉及多个地方 → 上级政府主管部门
    SeveralLocalities,
    /// No locality, but the domain has a city department (谁主管谁负责).
    DomainDepartment,
    /// A unit reported the emergency itself (上报).
    ReportingUnit,
    /// 政府办公厅会同宣传部门组织协调
    Coordination,
    /// Set by staff.
    Override,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub owner: UnitRef,
    pub rule: AssignRule,
    pub reason: String,
}

/// The owning unit of an event, with the reason in words a desk officer can check.
pub fn assign_owner(config: &Config, input: &AssignInput) -> Assignment {
    let department = department_of(config, input);
    let domain_label = input.domain.as_deref().unwrap_or("未识别领域");

    if input.priorities.contains(&Priority::Decision) {
        if let Some(dept) = department {
            return Assignment {
                owner: dept.to_ref(),
                rule: AssignRule::CityPolicy,
                reason: format!(
                    "涉及市委、市政府重要决策部署(领域:{domain_label}),由市直主管部门{}回应(七.1 分级负责)",
                    dept.name
                ),
            };
        }
        return coordination(config, "涉及市委、市政府重要决策部署,但未识别主管部门");
    }

    if let Some(reporter) = input
        .reported_by_unit
        .as_deref()
        .and_then(|u| config.find_unit(u))
    {
        return Assignment {
            owner: reporter.to_ref(),
            rule: AssignRule::ReportingUnit,
            reason: format!(
                "尚未在网络传播的突发事件,由上报单位{}负责回应并同步通报宣传、网信部门(七.3)",
                reporter.name
            ),
        };
    }

    match &input.jurisdiction {
        // "Local" to the city itself (an analyzer may say so): the city as a whole.
        Jurisdiction::Local { county, .. } if is_city_name(county) => assign_owner(
            config,
            &AssignInput {
                jurisdiction: Jurisdiction::City { counties: vec![] },
                ..input.clone()
            },
        ),
        Jurisdiction::Local { county, .. } => match config.county_unit(county) {
            Some(gov) => {
                let local_dept = input.domain.as_deref().and_then(|domain| {
                    config
                        .local_departments
                        .iter()
                        .find(|d| {
                            config.county_unit(&d.county).map(|u| &u.id) == Some(&gov.id)
                                && d.domain == domain
                        })
                        .and_then(|d| config.unit(&d.unit))
                });
                let owner = local_dept.unwrap_or(gov);
                Assignment {
                    owner: owner.to_ref(),
                    rule: AssignRule::SingleLocality,
                    reason: format!("涉及{county},属地管理,由{}回应(七.1 属地管理)", owner.name),
                }
            }
            None => by_department_or_coordination(
                config,
                department,
                &format!("地点“{county}”不在本市区(市、县)名录中"),
                AssignRule::DomainDepartment,
            ),
        },
        Jurisdiction::City { counties } => {
            let known: Vec<&str> = counties
                .iter()
                .filter_map(|c| config.county_unit(c).and_then(|u| u.county.as_deref()))
                .collect();
            if known.len() == 1 && counties.len() == 1 {
                // An analyzer may put a single county in the city scope; it is still local.
                let input = AssignInput {
                    jurisdiction: Jurisdiction::Local {
                        county: known[0].to_string(),
                        township: None,
                    },
                    ..input.clone()
                };
                return assign_owner(config, &input);
            }
            let what = if counties.len() > 1 {
                format!("涉及多个区(市、县)({})", counties.join("、"))
            } else {
                "涉及全市".to_string()
            };
            match department {
                Some(dept) => Assignment {
                    owner: dept.to_ref(),
                    rule: AssignRule::SeveralLocalities,
                    reason: format!(
                        "{what},由市级主管部门{}回应(七.1 上级政府主管部门)",
                        dept.name
                    ),
                },
                None => coordination(config, &format!("{what},但未识别主管部门")),
            }
        }
        Jurisdiction::Elsewhere { place } => coordination(
            config,
            &format!(
                "事发地{}不在本市,需研判是否涉及本市",
                place.as_deref().unwrap_or("未知")
            ),
        ),
        // The analyzer found no place, but the title names a locality (often by its short
        // name, "花溪这边..."): use it.
        Jurisdiction::Unknown if !config.counties_in_text(&input.text).is_empty() => {
            let mut counties = config.counties_in_text(&input.text);
            let jurisdiction = if counties.len() == 1 {
                Jurisdiction::Local {
                    county: counties.remove(0),
                    township: None,
                }
            } else {
                Jurisdiction::City { counties }
            };
            let mut a = assign_owner(
                config,
                &AssignInput {
                    jurisdiction,
                    text: String::new(),
                    ..input.clone()
                },
            );
            a.reason = format!("据标题识别地点:{}", a.reason);
            a
        }
        Jurisdiction::Unknown => match config.unknown_place_owner {
            UnknownPlaceOwner::Department => by_department_or_coordination(
                config,
                department,
                "未识别事发地",
                AssignRule::DomainDepartment,
            ),
            UnknownPlaceOwner::Coordination => coordination(config, "未识别事发地"),
        },
    }
}

fn is_city_name(place: &str) -> bool {
    matches!(place.trim(), "贵阳市" | "贵阳" | "全市" | "贵州省贵阳市")
}

fn by_department_or_coordination(
    config: &Config,
    department: Option<&crate::config::Unit>,
    why: &str,
    rule: AssignRule,
) -> Assignment {
    match department {
        Some(dept) => Assignment {
            owner: dept.to_ref(),
            rule,
            reason: format!("{why},按谁主管谁负责由{}回应(七.1)", dept.name),
        },
        None => coordination(config, &format!("{why},且未识别主管部门")),
    }
}

fn coordination(config: &Config, why: &str) -> Assignment {
    let desk = config.unit_ref(&config.coordination_unit);
    let partner = config.unit_ref(&config.coordination_partner_unit);
    Assignment {
        reason: format!(
            "{why},责任主体不明,由{}会同{}组织协调(七.1)",
            desk.name, partner.name
        ),
        owner: desk,
        rule: AssignRule::Coordination,
    }
}

/// The city department in charge: the analyzer's named department when it is a known city
/// department, else the domain map.
fn department_of<'c>(config: &'c Config, input: &AssignInput) -> Option<&'c crate::config::Unit> {
    input
        .department
        .as_deref()
        .and_then(|d| config.find_unit(d))
        .filter(|u| u.kind == UnitKind::CityDepartment)
        .or_else(|| {
            input
                .domain
                .as_deref()
                .and_then(|d| config.domain_department(d))
        })
}

/// Why an event opens a case, or `None` when no rule matches.
pub fn open_reason(config: &Config, event: &EventUpdate) -> Option<String> {
    let rules = &config.rules;
    if event.flags.notified_by_cyberspace_office && rules.open_when_notified_by_cyberspace_office {
        return Some("网信部门通报".into());
    }
    if event.flags.reported_by_unit.is_some() && rules.open_when_reported_by_unit {
        return Some("单位上报的突发事件".into());
    }
    if event.flags.manual {
        return Some("人工录入".into());
    }
    if rules.skip_elsewhere && matches!(event.jurisdiction, Jurisdiction::Elsewhere { .. }) {
        return None;
    }
    if let (Some(min), Some(level)) = (rules.min_severity, event.severity.level) {
        if level >= min {
            return Some(format!("研判等级{}", level.label_zh()));
        }
    }
    let hits: Vec<&str> = event
        .priorities
        .iter()
        .filter(|p| {
            rules
                .priority_min_heat
                .get(p)
                .is_some_and(|min| event.heat >= *min)
        })
        .map(|p| p.label_zh())
        .collect();
    if !hits.is_empty() {
        return Some(format!("重点监测:{}", hits.join("、")));
    }
    if rules.min_heat > 0.0 && event.heat >= rules.min_heat {
        return Some(format!("热度{:.0}达到立案阈值", event.heat));
    }
    None
}

/// The tier of (七.4): 特别重大/重大 → the 5 h / 24 h tier.
pub fn tier_for(severity: Option<Severity>) -> common::wire::Tier {
    match severity {
        Some(s) if s.is_major_or_above() => common::wire::Tier::MajorEmergency,
        _ => common::wire::Tier::Standard,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(jurisdiction: Jurisdiction, domain: Option<&str>) -> AssignInput {
        AssignInput {
            jurisdiction,
            domain: domain.map(String::from),
            ..Default::default()
        }
    }

    fn local(county: &str) -> Jurisdiction {
        Jurisdiction::Local {
            county: county.into(),
            township: None,
        }
    }

    #[test]
    fn single_locality_goes_to_its_government() {
        let c = Config::default();
        let a = assign_owner(&c, &input(local("南明区"), Some("教育")));
        assert_eq!(a.owner.id, "nanming");
        assert_eq!(a.owner.name, "南明区人民政府");
        assert_eq!(a.rule, AssignRule::SingleLocality);
        assert!(a.reason.contains("属地"), "{}", a.reason);
    }

    #[test]
    fn a_configured_local_department_owns_its_domain() {
        let mut c = Config::default();
        c.units.push(crate::config::Unit {
            id: "nanming_education".into(),
            name: "南明区教育局".into(),
            kind: UnitKind::County,
            county: None,
            aliases: vec![],
            leaders: vec![],
        });
        c.local_departments.push(crate::config::LocalDepartment {
            county: "南明区".into(),
            domain: "教育".into(),
            unit: "nanming_education".into(),
        });
        let a = assign_owner(&c, &input(local("南明"), Some("教育")));
        assert_eq!(a.owner.id, "nanming_education");
        let a = assign_owner(&c, &input(local("南明区"), Some("交通")));
        assert_eq!(a.owner.id, "nanming");
    }

    #[test]
    fn several_localities_go_to_the_city_department() {
        let c = Config::default();
        let j = Jurisdiction::City {
            counties: vec!["南明区".into(), "云岩区".into()],
        };
        let a = assign_owner(&c, &input(j.clone(), Some("食品药品")));
        assert_eq!(a.owner.name, "市食品药品监管局");
        assert_eq!(a.rule, AssignRule::SeveralLocalities);
        let a = assign_owner(&c, &input(j, None));
        assert_eq!(a.owner.id, "general_office");
    }

    #[test]
    fn city_policy_goes_to_the_department_even_when_placed() {
        let c = Config::default();
        let mut i = input(local("花溪区"), Some("征地拆迁"));
        i.priorities = vec![Priority::Decision];
        let a = assign_owner(&c, &i);
        assert_eq!(a.owner.name, "市国土资源局");
        assert_eq!(a.rule, AssignRule::CityPolicy);
    }

    #[test]
    fn unclear_goes_to_the_coordination_desk() {
        let c = Config::default();
        let a = assign_owner(&c, &input(Jurisdiction::Unknown, None));
        assert_eq!(a.owner.name, "市政府办公厅");
        assert!(a.reason.contains("市委宣传部"), "{}", a.reason);
        let a = assign_owner(&c, &input(Jurisdiction::Unknown, Some("安全生产")));
        assert_eq!(a.owner.name, "市安监局");
    }

    #[test]
    fn an_unknown_place_falls_back_to_names_in_the_title() {
        let c = Config::default();
        let mut i = input(Jurisdiction::Unknown, Some("自然灾害"));
        i.text = "花溪这边雨太大了,路都被冲断了".into();
        let a = assign_owner(&c, &i);
        assert_eq!(a.owner.id, "huaxi");
        assert!(a.reason.starts_with("据标题识别地点"), "{}", a.reason);
        i.text = "南明区和云岩区多处积水".into();
        assert_eq!(assign_owner(&c, &i).owner.id, "emergency_office");
        i.text = "贵阳暴雨".into();
        assert_eq!(assign_owner(&c, &i).owner.id, "emergency_office");
    }

    #[test]
    fn open_rules() {
        let c = Config::default();
        let mut e = EventUpdate {
            heat: 1.0,
            ..Default::default()
        };
        assert_eq!(open_reason(&c, &e), None);
        e.priorities = vec![Priority::PublicInterest];
        assert_eq!(open_reason(&c, &e), None);
        e.heat = 45.0;
        assert!(open_reason(&c, &e).unwrap().contains("公众切身利益"));
        e.heat = 1.0;
        e.priorities.push(Priority::Emergency);
        assert!(open_reason(&c, &e).unwrap().contains("突发事件"));
        e.priorities.clear();
        e.heat = 100.0;
        assert!(open_reason(&c, &e).unwrap().contains("热度"));
        e.heat = 0.0;
        e.flags.notified_by_cyberspace_office = true;
        assert_eq!(open_reason(&c, &e).unwrap(), "网信部门通报");
    }
}
