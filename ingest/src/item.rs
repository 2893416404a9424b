//! One item as a source found it, before dedup and publishing.

use chrono::{DateTime, Utc};
use common::wire::Engagement;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// The source's own id for the item (feed guid, post id).
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: String,
    /// Plain text.
    pub text: String,
    pub published_at: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub engagement: Engagement,
    /// The outlet as the source names it (a feed's own title, 微博 for Weibo posts): what the
    /// desk reads as 来源 when neither the config nor the article page says better.
    pub site_name: Option<String>,
}
