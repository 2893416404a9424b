// Ops: source health from ingest, consumer lag per stage, refreshed every few seconds.
'use strict';

(() => {
  const { el, getJSON, fmtTime } = YQ;
  const $ = (id) => document.getElementById(id);
  let me = null;

  function table(id, header, rows) {
    $(id).replaceChildren(
      el('thead', {}, [el('tr', {}, header.map((h) => el('th', { text: h })))]),
      el('tbody', {}, rows.map((r) => el('tr', { class: r.cls || '' }, r.cells.map((c) => el('td', { text: c === null || c === undefined ? '—' : String(c) }))))),
    );
  }

  async function load() {
    const o = await getJSON('/api/ops');
    $('counts').textContent = `信息 ${o.counts.items} 条 · 事件 ${o.counts.events} 个 · 案件 ${o.counts.cases} 件 · 实时连接 ${o.sse_viewers} 个`;
    table('lag', ['环节', '消费组', '主题', '积压', '错误'], o.lag.map((l) => ({
      cls: l.lag > 1000 ? 'bad' : '', cells: [l.stage, l.group, l.topic, l.lag === null ? '未知' : l.lag, l.error],
    })));
    table('sources', ['采集源', '地址', '最近尝试', '最近成功', '连续失败', '已发布', '最近错误'], o.sources.map((s) => ({
      cls: s.ok ? '' : 'bad',
      cells: [s.source_id, s.url, fmtTime(s.last_attempt_at, me.utc_offset_hours), fmtTime(s.last_success_at, me.utc_offset_hours), s.consecutive_failures, s.items_published, s.last_error],
    })));
  }

  async function start() {
    me = await YQ.header();
    await load();
    setInterval(() => load().catch(() => {}), 5000);
  }

  document.addEventListener('DOMContentLoaded', start);
})();
