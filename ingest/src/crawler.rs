//! The crawl loop: one task per enabled source, each crawling on its interval, a global cap on
//! sources crawled at once, dedup against the sled state, publishing to the bus, a health
//! record after every round. A failing source only affects its own task.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::wire::{RawDocument, SourceHealth, new_message_id};
use common::{Envelope, Shutdown, StageContext, topics};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use url::Url;

use crate::canon;
use crate::config::{Config, SourceConfig, SourceType};
use crate::decode;
use crate::error::Error;
use crate::extract::{self, Article};
use crate::feed;
use crate::fetch::{Fetched, Fetcher, Page, Want};
use crate::item::Item;
use crate::simhash;
use crate::social;
use crate::state::{CrawlState, Dedup};

pub(crate) struct Crawler {
    cfg: Arc<Config>,
    ctx: StageContext,
    fetcher: Fetcher,
    state: Arc<CrawlState>,
}

/// Outcome of one round of one source.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RoundStats {
    pub published: u64,
}

pub async fn run(config: Config, ctx: StageContext, shutdown: Shutdown) -> Result<(), Error> {
    validate(&config)?;
    let dir = ctx.stage_dir("ingest")?.join("crawl-state");
    let window = config.fingerprint_window;
    let state = tokio::task::spawn_blocking(move || CrawlState::open(&dir, window))
        .await
        .map_err(|e| Error::Config(format!("state open task: {e}")))??;
    ctx.bus
        .ensure_topics(&[topics::RAW_DOCUMENTS, topics::SOURCE_HEALTH])
        .await?;
    let cfg = Arc::new(config);
    let crawler = Arc::new(Crawler {
        fetcher: Fetcher::new(cfg.clone())?,
        cfg: cfg.clone(),
        ctx,
        state: Arc::new(state),
    });
    let slots = Arc::new(Semaphore::new(cfg.max_concurrent_sources.max(1)));
    let mut tasks = JoinSet::new();
    for src in cfg.my_sources() {
        tasks.spawn(
            crawler
                .clone()
                .source_loop(src.clone(), slots.clone(), shutdown.clone()),
        );
    }
    tasks.spawn(crawler.clone().expiry_loop(shutdown.clone()));
    info!(
        sources = cfg.my_sources().count(),
        worker = cfg.worker_index,
        workers = cfg.worker_count,
        "ingest started"
    );
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            warn!(error = %e, "crawl task ended abnormally");
        }
    }
    crawler.state.flush().await?;
    info!("ingest stopped");
    Ok(())
}

fn validate(config: &Config) -> Result<(), Error> {
    if config.worker_index >= config.worker_count.max(1) {
        return Err(Error::Config(format!(
            "worker_index {} must be below worker_count {}",
            config.worker_index, config.worker_count
        )));
    }
    let mut ids = std::collections::HashSet::new();
    for s in &config.sources {
        if s.id.trim().is_empty() {
            return Err(Error::Config("a source has an empty id".into()));
        }
        if !ids.insert(s.id.as_str()) {
            return Err(Error::Config(format!("source id {:?} is used twice", s.id)));
        }
        let url = Url::parse(&s.url)
            .map_err(|e| Error::Config(format!("source {}: bad url {:?}: {e}", s.id, s.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "source {}: only http(s) urls are crawled",
                s.id
            )));
        }
        if s.kind == SourceType::Json && s.json.is_none() {
            return Err(Error::Config(format!(
                "source {}: kind json needs a [json] field mapping",
                s.id
            )));
        }
        for sel in s
            .rules
            .iter()
            .flat_map(|r| {
                [
                    &r.list_links,
                    &r.next_page,
                    &r.title,
                    &r.body,
                    &r.time,
                    &r.author,
                ]
            })
            .flatten()
        {
            scraper::Selector::parse(sel).map_err(|e| {
                Error::Config(format!("source {}: bad selector {sel:?}: {e}", s.id))
            })?;
        }
        if let Some(tz) = &s.timezone {
            if crate::config::parse_offset(tz).is_none() {
                return Err(Error::Config(format!(
                    "source {}: unknown timezone {tz:?}",
                    s.id
                )));
            }
        }
    }
    Ok(())
}

impl Crawler {
    async fn source_loop(
        self: Arc<Self>,
        src: SourceConfig,
        slots: Arc<Semaphore>,
        shutdown: Shutdown,
    ) {
        loop {
            let result = {
                let _slot = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    s = slots.acquire() => match s {
                        Ok(s) => s,
                        Err(_) => return,
                    },
                };
                self.crawl_round(&src, &shutdown).await
            };
            if matches!(result, Err(Error::Shutdown)) || shutdown.is_cancelled() {
                return;
            }
            self.record_health(&src, &result).await;
            if let Err(e) = self.state.flush().await {
                warn!(error = %e, "crawl state flush failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(src.interval()) => {}
            }
        }
    }

    async fn expiry_loop(self: Arc<Self>, shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            }
            let before =
                self.ctx.clock.now() - chrono::Duration::days(self.cfg.state_ttl_days as i64);
            let state = self.state.clone();
            match tokio::task::spawn_blocking(move || state.expire(before)).await {
                Ok(Ok(n)) => debug!(removed = n, "crawl state expired"),
                Ok(Err(e)) => warn!(error = %e, "crawl state expiry failed"),
                Err(e) => warn!(error = %e, "crawl state expiry task failed"),
            }
        }
    }

    pub(crate) async fn crawl_round(
        &self,
        src: &SourceConfig,
        shutdown: &Shutdown,
    ) -> Result<RoundStats, Error> {
        let url = Url::parse(&src.url).map_err(|_| Error::BadUrl(src.url.clone()))?;
        match src.kind {
            SourceType::Html => self.crawl_list_pages(src, url, shutdown).await,
            SourceType::Rss | SourceType::Weibo | SourceType::Json => {
                self.crawl_feed(src, url, shutdown).await
            }
        }
    }

    async fn crawl_feed(
        &self,
        src: &SourceConfig,
        url: Url,
        shutdown: &Shutdown,
    ) -> Result<RoundStats, Error> {
        let want = if src.kind == SourceType::Rss {
            Want::Feed
        } else {
            Want::Json
        };
        let validators = self.state.validators(url.as_str())?;
        let page = match self
            .fetcher
            .fetch(&url, src.allow_private, want, validators.as_ref(), shutdown)
            .await?
        {
            Fetched::NotModified => return Ok(RoundStats::default()),
            Fetched::Page(p) => p,
        };
        let (now, tz) = (self.ctx.clock.now(), src.offset());
        let kind = src.kind;
        let mapping = src.json.clone();
        let charset = page.charset().map(str::to_string);
        let bytes = page.bytes.clone();
        let items = blocking(move || match kind {
            SourceType::Weibo => social::parse_weibo(&bytes, now, tz),
            SourceType::Json => match &mapping {
                Some(m) => social::parse_mapped(&bytes, m, now, tz),
                None => Err(Error::Config("json source without mapping".into())),
            },
            _ => feed::parse_feed(&bytes, charset.as_deref(), now, tz),
        })
        .await?;
        let mut stats = RoundStats::default();
        let mut complete = true;
        let mut handled = 0usize;
        for item in items {
            if handled >= self.cfg.max_items_per_round {
                complete = false;
                break;
            }
            match self.handle_item(src, &page.url, item, shutdown).await {
                Ok(ItemOutcome::Published) => {
                    stats.published += 1;
                    handled += 1;
                }
                Ok(ItemOutcome::Fetched) => handled += 1,
                Ok(ItemOutcome::Seen) => {}
                Err(Error::Shutdown) => return Err(Error::Shutdown),
                Err(e) if matches!(e, Error::Bus(_) | Error::State(_)) => return Err(e),
                Err(e) => {
                    // The item is retried next round; a conditional GET must not hide it then.
                    complete = false;
                    warn!(source = %src.id, error = %e, retryable = e.is_retryable(), "item skipped");
                }
            }
        }
        if complete {
            self.state
                .set_validators(url.as_str(), &page.validators, self.ctx.clock.now())?;
        }
        Ok(stats)
    }

    async fn crawl_list_pages(
        &self,
        src: &SourceConfig,
        start: Url,
        shutdown: &Shutdown,
    ) -> Result<RoundStats, Error> {
        let rules = src.rules.clone();
        let max_pages = rules.as_ref().map(|r| r.max_pages.max(1)).unwrap_or(1);
        let mut stats = RoundStats::default();
        let mut next = Some(start);
        let mut budget = self.cfg.max_items_per_round;
        for _ in 0..max_pages {
            let Some(list_url) = next.take() else {
                break;
            };
            let page = match self
                .fetcher
                .fetch(
                    &list_url,
                    private_allowed(src, &list_url),
                    Want::Html,
                    None,
                    shutdown,
                )
                .await?
            {
                Fetched::NotModified => break,
                Fetched::Page(p) => p,
            };
            let r = rules.clone();
            let base = page.url.clone();
            let (links, next_page) = blocking(move || {
                let text = crate::decode::decode(&page.bytes, page.charset()).text;
                Ok(extract::extract_links(&text, &base, r.as_ref()))
            })
            .await?;
            next = next_page;
            for link in links {
                if budget == 0 {
                    return Ok(stats);
                }
                let item = Item {
                    url: Some(link.to_string()),
                    ..Item::default()
                };
                match self.handle_item(src, &list_url, item, shutdown).await {
                    Ok(ItemOutcome::Published) => {
                        stats.published += 1;
                        budget -= 1;
                    }
                    Ok(ItemOutcome::Fetched) => budget -= 1,
                    Ok(ItemOutcome::Seen) => {}
                    Err(Error::Shutdown) => return Err(Error::Shutdown),
                    Err(e) if matches!(e, Error::Bus(_) | Error::State(_)) => return Err(e),
                    Err(e) => warn!(source = %src.id, url = %link, error = %e, "article skipped"),
                }
            }
        }
        Ok(stats)
    }

    /// Dedup, complete (fetch the article when the item is only a summary), publish.
    async fn handle_item(
        &self,
        src: &SourceConfig,
        base: &Url,
        item: Item,
        shutdown: &Shutdown,
    ) -> Result<ItemOutcome, Error> {
        let link = item
            .url
            .as_deref()
            .and_then(|u| base.join(u.trim()).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        let canonical = link.as_ref().and_then(|u| canon::canonical_url(u.as_str()));
        let doc_id = match (&canonical, &item.guid) {
            (Some(c), _) => canon::doc_id_for_url(c),
            (None, Some(g)) => canon::doc_id_for_guid(&src.id, g),
            (None, None) => {
                canon::doc_id_for_guid(&src.id, &simhash::content_hash(&item.title, &item.text))
            }
        };
        if self.state.is_seen(&doc_id)? {
            return Ok(ItemOutcome::Seen);
        }
        let now = self.state.first_seen(&doc_id, self.ctx.clock.now())?;
        let feed_site_name = item.site_name.clone();
        let mut doc = RawDocument {
            doc_id: doc_id.clone(),
            source_id: src.id.clone(),
            source_kind: src.kind.wire_kind(),
            url: link.as_ref().map(|u| u.to_string()),
            title: item.title.clone(),
            body: item.text.clone(),
            published_at: item.published_at,
            fetched_at: now,
            author: item.author.clone(),
            site_name: src.site_name.clone(),
            encoding: None,
            engagement: item.engagement.clone(),
            tags: src.tags.clone(),
            source_weight: src.weight,
            ..RawDocument::default()
        };
        let needs_page = src.kind == SourceType::Html
            || (self.cfg.follow_links
                && matches!(src.kind, SourceType::Rss | SourceType::Json)
                && item.text.chars().count() < self.cfg.summary_min_chars);
        if let (true, Some(url)) = (needs_page, link.as_ref()) {
            match self
                .fetch_article(src, url, self.ctx.clock.now(), shutdown)
                .await
            {
                Ok(a) => merge_article(&mut doc, a),
                Err(e) if e.is_retryable() || matches!(e, Error::Shutdown) => return Err(e),
                // A list page's link that can never be fetched (404, robots, refused): remember
                // it so it is not tried again every round.
                Err(e) if src.kind == SourceType::Html => {
                    warn!(source = %src.id, url = %url, error = %e, "article unusable, not retried");
                    self.state.mark_seen(&doc_id, now)?;
                    return Ok(ItemOutcome::Fetched);
                }
                // A refused or malformed page: the feed's own text is all there is.
                Err(e) => {
                    warn!(source = %src.id, url = %url, error = %e, "article page unusable, publishing the feed text")
                }
            }
        }
        if doc.title.trim().is_empty() && doc.body.trim().is_empty() {
            self.state.mark_seen(&doc_id, now)?;
            return Ok(ItemOutcome::Fetched);
        }
        // The config's name, else the article page's, else what the feed calls itself.
        doc.site_name = doc.site_name.take().or(feed_site_name);
        self.publish(doc).await
    }

    /// The article at `url`, with the bodies of its continuation pages (下一页) joined.
    async fn fetch_article(
        &self,
        src: &SourceConfig,
        url: &Url,
        now: DateTime<Utc>,
        shutdown: &Shutdown,
    ) -> Result<Article, Error> {
        let (mut article, mut next) = self.fetch_article_page(src, url, now, shutdown).await?;
        let mut visited = HashSet::from([url.as_str().to_string()]);
        let mut bodies = vec![std::mem::take(&mut article.body)];
        let mut pages = 1;
        while let Some(page_url) = next.take() {
            // Bounded and on the article's own host: a site that paginates in a circle or
            // without end, or points elsewhere, cannot hold the worker or widen the crawl.
            if pages >= MAX_ARTICLE_PAGES
                || page_url.host_str() != url.host_str()
                || !visited.insert(page_url.as_str().to_string())
            {
                break;
            }
            pages += 1;
            match self.fetch_article_page(src, &page_url, now, shutdown).await {
                Ok((more, following)) => {
                    // Some sites serve the whole text again on "page 2": keep it once.
                    if !more.body.is_empty() && !bodies.contains(&more.body) {
                        bodies.push(more.body);
                    }
                    next = following;
                }
                Err(Error::Shutdown) => return Err(Error::Shutdown),
                Err(e) => {
                    // The first page stands on its own; a lost continuation is not worth the item.
                    warn!(url = %page_url, error = %e, "article continuation page failed, keeping the pages before it");
                    break;
                }
            }
        }
        article.body = bodies.join("\n");
        Ok(article)
    }

    /// One page of an article and its "下一页" link.
    async fn fetch_article_page(
        &self,
        src: &SourceConfig,
        url: &Url,
        now: DateTime<Utc>,
        shutdown: &Shutdown,
    ) -> Result<(Article, Option<Url>), Error> {
        let page: Page = match self
            .fetcher
            .fetch(url, private_allowed(src, url), Want::Html, None, shutdown)
            .await?
        {
            Fetched::Page(p) => p,
            Fetched::NotModified => return Err(Error::parse("article", "unexpected 304")),
        };
        let rules = src.rules.clone();
        let tz = src.offset();
        blocking(move || {
            let decoded = decode::decode(&page.bytes, page.charset());
            let mut article =
                extract::extract_article(&decoded.text, Some(&page.url), rules.as_ref(), now, tz);
            article.encoding = Some(decoded.encoding.to_string());
            let next = extract::article_next_page(&decoded.text, &page.url);
            Ok((article, next))
        })
        .await
    }

    async fn publish(&self, mut doc: RawDocument) -> Result<ItemOutcome, Error> {
        let fp = simhash::simhash(&format!("{}\n{}", doc.title, doc.body));
        let hash = simhash::content_hash(&doc.title, &doc.body);
        match self
            .state
            .dedup(&hash, fp, self.cfg.near_duplicate_max_distance)?
        {
            Dedup::Exact(original) => {
                debug!(doc_id = %doc.doc_id, %original, "exact duplicate dropped");
                self.state.mark_seen(&doc.doc_id, doc.fetched_at)?;
                return Ok(ItemOutcome::Fetched);
            }
            Dedup::Near(original) if original != doc.doc_id => {
                doc.near_duplicate_of = Some(original)
            }
            _ => {}
        }
        doc.fingerprint = Some(fp);
        let env = Envelope::new(doc.doc_id.clone(), self.ctx.clock.now(), doc);
        common::bus::publish(
            self.ctx.bus.as_ref(),
            topics::RAW_DOCUMENTS,
            &env.payload.source_id,
            &env,
        )
        .await?;
        // Marked only after the bus accepted it: a crash in between means a re-send with the same
        // message id, which consumers drop; never a loss.
        let d = &env.payload;
        self.state.mark_seen(&d.doc_id, d.fetched_at)?;
        self.state
            .remember_content(&d.doc_id, &hash, fp, d.fetched_at)?;
        debug!(doc_id = %d.doc_id, source = %d.source_id, "published");
        Ok(ItemOutcome::Published)
    }

    async fn record_health(&self, src: &SourceConfig, result: &Result<RoundStats, Error>) {
        let now = self.ctx.clock.now();
        let mut h = match self.state.health(&src.id) {
            Ok(Some(h)) => h,
            _ => SourceHealth {
                source_id: src.id.clone(),
                ..SourceHealth::default()
            },
        };
        h.url = src.url.clone();
        h.name = src.site_name.clone();
        h.last_attempt_at = Some(now);
        match result {
            Ok(stats) => {
                h.last_success_at = Some(now);
                h.consecutive_failures = 0;
                h.last_error = None;
                h.items_published += stats.published;
                debug!(source = %src.id, published = stats.published, "round done");
            }
            Err(e) => {
                h.consecutive_failures += 1;
                h.last_error = Some(e.to_string());
                warn!(source = %src.id, error = %e, retryable = e.is_retryable(), failures = h.consecutive_failures, "crawl round failed");
            }
        }
        if let Err(e) = self.state.set_health(&h, now) {
            warn!(source = %src.id, error = %e, "cannot store source health");
        }
        let env = Envelope::new(new_message_id(), now, h);
        if let Err(e) =
            common::bus::publish(self.ctx.bus.as_ref(), topics::SOURCE_HEALTH, &src.id, &env).await
        {
            warn!(source = %src.id, error = %e, "cannot publish source health");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemOutcome {
    /// Already published earlier.
    Seen,
    /// Handled without publishing (exact duplicate, empty).
    Fetched,
    Published,
}

/// Pages of one paginated article fetched at most (the first included).
const MAX_ARTICLE_PAGES: usize = 8;

/// Take what the article page adds: its body when fuller than the feed text, and whatever
/// the feed left empty.
fn merge_article(doc: &mut RawDocument, a: Article) {
    if a.body.chars().count() > doc.body.chars().count() {
        doc.body = a.body;
    }
    if doc.title.trim().is_empty() {
        doc.title = a.title;
    }
    doc.published_at = doc.published_at.or(a.published_at);
    doc.author = doc.author.take().or(a.author);
    doc.site_name = doc.site_name.take().or(a.site_name);
    doc.encoding = a.encoding;
}

/// The SSRF exemption of a source covers its own host only: links it publishes to other
/// private addresses are refused like anyone's.
fn private_allowed(src: &SourceConfig, url: &Url) -> bool {
    src.allow_private && Url::parse(&src.url).is_ok_and(|own| own.host_str() == url.host_str())
}

/// CPU-bound parsing off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::parse("worker", format!("parser task failed: {e}")))?
}
