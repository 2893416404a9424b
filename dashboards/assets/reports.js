// Leader reports: one JSON report rendered as KPIs, ECharts charts and tables; the DOCX, XLSX and
// print links fetch the same report from the server.
'use strict';

(() => {
  const { el, getJSON, fmtTime, toast } = YQ;
  const $ = (id) => document.getElementById(id);
  let me = null;
  let period = 'daily';
  const charts = {};

  function table(id, header, rows) {
    const t = $(id);
    if (!rows.length) { t.replaceChildren(el('caption', { text: '本期无。' })); return; }
    t.replaceChildren(
      el('thead', {}, [el('tr', {}, header.map((h) => el('th', { text: h })))]),
      el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', { text: c === null || c === undefined ? '—' : String(c) }))))),
    );
  }

  function chart(id, option) {
    if (!window.echarts) return;
    if (!charts[id]) charts[id] = echarts.init($(id));
    // Charts draw on canvas: give them the page's CJK font stack, not the canvas default.
    const fontFamily = getComputedStyle(document.body).fontFamily;
    charts[id].setOption({ textStyle: { fontFamily }, ...option }, true);
  }

  function fmtRate(v) { return v === null || v === undefined ? '—' : v.toFixed(1) + '%'; }

  async function load() {
    const date = $('date').value;
    const q = date ? '?date=' + encodeURIComponent(date) : '';
    $('dl-docx').setAttribute('href', `/reports/${period}/report.docx${q}`);
    $('dl-xlsx').setAttribute('href', `/reports/${period}/report.xlsx${q}`);
    $('print').setAttribute('href', `/reports/${period}/print${q}`);
    for (const b of document.querySelectorAll('#periods button')) b.classList.toggle('active', b.dataset.period === period);
    let r;
    try { r = await getJSON(`/api/reports/${period}${q}`); } catch (e) { toast(e.message, true); return; }
    $('title').textContent = r.title;
    if (!$('date').value) $('date').value = r.start_date;
    const x = r.totals;
    $('summary').textContent = `生成时间 ${fmtTime(r.generated_at, r.utc_offset_hours)}`;
    const kpi = (k, v, cls) => el('div', { class: 'kpi ' + (cls || ''), dataset: { kpi: k } }, [el('span', { class: 'v', text: String(v) }), el('span', { class: 'k', text: k })]);
    $('kpis').replaceChildren(
      kpi('舆情信息', x.items), kpi('负面信息', x.negative_items), kpi('舆情事件', x.events),
      kpi('新交办案件', x.cases_opened), kpi('办结案件', x.cases_closed), kpi('按时率', fmtRate(x.on_time_rate)),
      kpi('超时', x.breaches, x.breaches ? 'bad' : ''), kpi('升级督办', x.escalations), kpi('超期未办结', x.overdue_open, x.overdue_open ? 'bad' : ''),
    );
    chart('chart-volume', {
      title: { text: '信息量走势', textStyle: { fontSize: 14 } }, tooltip: { trigger: 'axis' },
      grid: { left: 40, right: 10, top: 40, bottom: 30 },
      xAxis: { type: 'category', data: r.volume.map((b) => b.label) }, yAxis: { type: 'value', minInterval: 1 },
      series: [{ type: 'line', areaStyle: {}, data: r.volume.map((b) => b.items) }],
    });
    chart('chart-priority', {
      title: { text: '重点监测类别', textStyle: { fontSize: 14 } }, tooltip: {},
      grid: { left: 140, right: 20, top: 40, bottom: 20 },
      xAxis: { type: 'value', minInterval: 1 }, yAxis: { type: 'category', data: r.by_priority.map((p) => p.label) },
      series: [{ type: 'bar', data: r.by_priority.map((p) => p.items), itemStyle: { color: '#b03a2e' } }],
    });
    chart('chart-district', {
      title: { text: '区（市、县）分布', textStyle: { fontSize: 14 } }, tooltip: {},
      grid: { left: 40, right: 10, top: 40, bottom: 50 },
      // Every district named, however many: ECharts would otherwise skip labels that crowd.
      xAxis: { type: 'category', data: r.by_district.map((d) => d.district), axisLabel: { rotate: 30, interval: 0 } }, yAxis: { type: 'value', minInterval: 1 },
      series: [{ type: 'bar', data: r.by_district.map((d) => d.items), itemStyle: { color: '#1f618d' } }],
    });
    table('t-events', ['序号', '事件', '热度', '信息量', '属地', '类别', '级别'],
      r.top_events.map((e, i) => [i + 1, e.title, e.heat, e.doc_count, e.district, e.priorities.join('、'), e.severity]));
    table('t-units', ['责任单位', '交办', '到期时限', '按时', '按时率', '首次权威发布中位用时（小时）', '超期', '评价'],
      r.units.map((u) => [u.unit_name, u.assigned, u.deadlines_due, u.deadlines_on_time, fmtRate(u.on_time_rate), u.median_first_release_hours === null ? null : u.median_first_release_hours.toFixed(1), u.overdue, u.grade]));
    const off = r.utc_offset_hours;
    table('t-overdue', ['案件编号', '标题', '责任单位', '时限', '截止时间', '状态'],
      r.overdue.map((l) => [l.case_id, l.title, l.owner, l.deadline, fmtTime(l.due_at, off), YQ.label('state', l.state)]));
    table('t-breaches', ['案件编号', '标题', '责任单位', '时限', '截止时间', '完成时间'],
      r.breaches.map((l) => [l.case_id, l.title, l.owner, l.deadline, fmtTime(l.due_at, off), l.met_at ? fmtTime(l.met_at, off) : '未完成']));
  }

  async function start() {
    me = await YQ.header();
    const p = new URLSearchParams(location.search).get('period');
    if (p) period = p;
    for (const b of document.querySelectorAll('#periods button')) b.addEventListener('click', () => { period = b.dataset.period; load(); });
    $('date').addEventListener('change', load);
    window.addEventListener('resize', () => { for (const c of Object.values(charts)) c.resize(); });
    await load();
    const files = await getJSON('/api/archive').catch(() => []);
    $('archive').replaceChildren(...(files.length ? files.map((f) => el('li', {}, [el('a', { href: f.url, text: f.name })])) : [el('li', { text: '暂无' })]));
  }

  document.addEventListener('DOMContentLoaded', start);
})();
