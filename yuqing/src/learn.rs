//! `yuqing learn FILE.jsonl`: 研判 records onto the corrections topic, the path the desk's own
//! corrections take; and the corrections `yuqing analyze --jsonl` learns from.

use std::path::Path;

use anyhow::{Context as _, bail};
use chrono::Utc;

use analyze::learn::CorrectionSet;
use common::topics;
use common::wire::{Correction, CorrectionField, Envelope};

use crate::config::Config;

/// A department value as the unit registry names it: a unit's id, name or alias becomes its
/// name; `""` stays "no city department".
fn resolve_department(value: &str, config: &Config) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return Some(String::new());
    }
    config
        .respond
        .units
        .iter()
        .find(|u| u.id == v || u.name == v || u.aliases.iter().any(|a| a == v))
        .map(|u| u.name.clone())
        .or_else(|| {
            // A department the analyzer routes to, even if the registry spells it differently.
            config
                .analyze
                .departments
                .values()
                .find(|d| d.as_str() == v)
                .cloned()
        })
}

/// Read and check every row, then publish them all; returns what was done, in Chinese.
pub async fn import(file: &Path, config: &Config) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("无法读取研判文件 {}", file.display()))?;
    let by = format!("import:{}", file.display());
    let mut corrections = analyze::learn::import::parse_all(&text, &by, Utc::now())
        .map_err(|e| anyhow::anyhow!("{}: {e}（未导入任何记录）", file.display()))?;
    for c in &mut corrections {
        if c.field != CorrectionField::Department || c.withdrawn {
            continue;
        }
        let value = c.value.as_str().unwrap_or_default().to_string();
        match resolve_department(&value, config) {
            Some(name) => c.value = name.into(),
            None => bail!(
                "{}: 记录 {}：单位 {value:?} 不在单位名录中（未导入任何记录）",
                file.display(),
                c.item_id
            ),
        }
    }
    if corrections.is_empty() {
        bail!("{}: 没有研判记录", file.display());
    }
    let bus = crate::pipeline::open_bus(config).await.context(
        "无法打开总线（嵌入式总线同一时间只能由一个进程使用：流水线运行时请用 Kafka 部署，或先停止流水线）",
    )?;
    let withdrawn = corrections.iter().filter(|c| c.withdrawn).count();
    for c in &corrections {
        publish(bus.as_ref(), c).await?;
    }
    Ok(format!(
        "{} 条研判已发布到 {}（其中撤回 {withdrawn} 条）；运行中的分析器将据此重新学习",
        corrections.len(),
        topics::CORRECTIONS
    ))
}

/// One correction on the bus, keyed by its item's field.
pub async fn publish(bus: &dyn common::Bus, c: &Correction) -> anyhow::Result<()> {
    let env = Envelope::new(
        format!("correction:{}:{}", c.key(), common::wire::new_message_id()),
        c.at,
        c,
    );
    common::bus::publish(bus, topics::CORRECTIONS, &c.key(), &env)
        .await
        .context("发布研判失败")
}

/// The corrections `yuqing analyze --jsonl` learns from: the topic of the configured bus. On
/// the embedded bus held by a running pipeline, the snapshot the analyzer keeps; with no bus
/// directory yet, none.
pub async fn corrections_for_offline(config: &Config) -> anyhow::Result<CorrectionSet> {
    let snapshot = analyze::learner::snapshot_path(&config.data_dir);
    if config.bus.kind == common::config::BusKind::Embedded {
        let dir = config.data_dir.join(&config.bus.embedded.path);
        if !dir.exists() {
            return Ok(analyze::learner::read_snapshot(&snapshot)?);
        }
        return match common::bus::open(&config.bus, &config.data_dir).await {
            Ok(bus) => Ok(analyze::learner::load(bus.as_ref()).await?),
            Err(e) => {
                tracing::debug!(error = %e, "embedded bus busy; reading the analyzer's snapshot");
                Ok(analyze::learner::read_snapshot(&snapshot)?)
            }
        };
    }
    let bus = common::bus::open(&config.bus, &config.data_dir)
        .await
        .context("cannot open the bus")?;
    Ok(analyze::learner::load(bus.as_ref()).await?)
}
