//! The unit registry on the bus. Respond owns the registry (its config); the dashboards learn
//! it from `yuqing.unit-registry.v1`, so every unit a person can pick is one that respond
//! accepts, shown by its name. It is published at start and once a day (a consumer that joins
//! after the topic's retention still gets it); the message id is the content's hash, so an
//! unchanged registry is recognised as the same message.

use std::time::Duration;

use common::wire::{Envelope, RegistryUnit, UnitRegistry};
use common::{SharedBus, SharedClock, Shutdown, topics};
use sha2::{Digest, Sha256};

use crate::config::{Config, UnitKind};

/// How often the registry is republished while the stage runs.
const REPUBLISH: Duration = Duration::from_secs(24 * 3600);

/// The registry as the wire carries it, in registry order.
pub fn unit_registry(config: &Config) -> UnitRegistry {
    UnitRegistry {
        units: config
            .units
            .iter()
            .map(|u| RegistryUnit {
                id: u.id.clone(),
                name: u.name.clone(),
                kind: match u.kind {
                    UnitKind::Desk => "desk",
                    UnitKind::CityDepartment => "city_department",
                    UnitKind::County => "county",
                }
                .to_string(),
                aliases: u.aliases.clone(),
            })
            .collect(),
    }
}

/// `unit-registry:<first 16 hex digits of the SHA-256 of its JSON>`.
pub fn message_id(registry: &UnitRegistry) -> String {
    let json = serde_json::to_vec(registry).unwrap_or_default();
    format!(
        "unit-registry:{}",
        &hex::encode(Sha256::digest(&json))[..16]
    )
}

/// Publish the registry now and then daily until `shutdown`. A failed publish is retried with
/// backoff: it must not stop the tracker, whose cases do not depend on it.
pub async fn publish_loop(
    config: Config,
    bus: SharedBus,
    clock: SharedClock,
    shutdown: Shutdown,
) -> Result<(), crate::Error> {
    let registry = unit_registry(&config);
    let id = message_id(&registry);
    let mut failures = 0u32;
    loop {
        let env = Envelope::new(id.clone(), clock.now(), registry.clone());
        let wait = match common::bus::publish(bus.as_ref(), topics::UNIT_REGISTRY, "registry", &env)
            .await
        {
            Ok(()) => {
                failures = 0;
                tracing::debug!(units = registry.units.len(), "unit registry published");
                REPUBLISH
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, attempt = failures, "publishing the unit registry failed");
                Duration::from_millis((200u64 << failures.min(8)).min(60_000))
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_carries_every_unit_with_its_name_and_a_stable_id() {
        let config = Config::from_default_toml().unwrap();
        let reg = unit_registry(&config);
        assert_eq!(reg.units.len(), config.units.len());
        let nanming = reg.units.iter().find(|u| u.id == "nanming").unwrap();
        assert_eq!(nanming.kind, "county");
        assert!(nanming.name.contains("南明"), "{}", nanming.name);
        assert_eq!(message_id(&reg), message_id(&unit_registry(&config)));
        let mut renamed = reg.clone();
        renamed.units[0].name.push('X');
        assert_ne!(message_id(&reg), message_id(&renamed));
    }
}
