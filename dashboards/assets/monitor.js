// Monitoring desk: live stream (SSE), hot events with sparklines, district grid, deadline board,
// and the desk's actions. Everything is built with DOM methods and textContent.
'use strict';

(() => {
  const { el, label, fmtTime, toast, api, getJSON } = YQ;
  const MAX_ITEMS = 200;
  const items = new Map(); // doc_id -> item
  const events = new Map(); // event_id -> event
  const cases = new Map(); // case_id -> case view
  let me = null;
  let source = null;
  let charts = [];
  let renderQueued = {};
  let skipped = 0;
  const freshUntil = new Map(); // doc_id -> time until which a live arrival is highlighted

  const $ = (id) => document.getElementById(id);

  function filters() {
    const f = {
      priority: $('f-priority').value,
      district: $('f-district').value,
      source: $('f-source').value,
      sentiment: $('f-sentiment').value,
    };
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
    return q.toString();
  }

  function later(what, fn) {
    if (renderQueued[what]) return;
    renderQueued[what] = true;
    // Bursts of updates (1,000 items/s) redraw at most a few times a second.
    setTimeout(() => { renderQueued[what] = false; fn(); }, 250);
  }

  function itemRow(i) {
    const isDesk = me && (me.role === 'desk' || me.role === 'admin');
    const title = i.link
      ? el('a', { class: 'title', href: i.link, target: '_blank', rel: 'noopener noreferrer nofollow', text: i.title || '（无标题）' })
      : el('span', { class: 'title', text: i.title || '（无标题）' });
    const tags = [
      ...(i.priority_keys || []).map((p) => el('span', { class: 'tag p-' + p, text: label('priority', p) })),
      i.district ? el('span', { class: 'tag district', text: i.district }) : null,
      el('span', { class: 'tag s-' + i.sentiment_label, text: label('sentiment', i.sentiment_label) }),
      i.is_rumor ? el('span', { class: 'tag rumor', text: '疑似谣言' }) : null,
      (i.notified_at || (i.flags && i.flags.notified_by_cyberspace_office)) ? el('span', { class: 'tag notified', text: '网信通报' }) : null,
      (i.flags && i.flags.reported_by_unit) ? el('span', { class: 'tag reported', text: '单位报送' }) : null,
    ];
    const actions = isDesk ? el('div', { class: 'item-actions' }, [
      el('button', {
        type: 'button', class: 'notify', text: '标记网信通报',
        on: { click: async () => {
          try {
            const r = await api('POST', '/api/items/' + encodeURIComponent(i.doc_id) + '/notify');
            toast('已标记为网信部门通报');
            for (const id of (r.message_ids || [])) {
              YQ.follow(id).then((o) => { if (o.status === 'rejected') toast('网信通报未登记：' + o.message, true); });
            }
          } catch (e) { toast(e.message, true); }
        } },
      }),
      el('button', {
        type: 'button', class: 'open-case', text: '立案',
        on: { click: () => openCaseDialog({ title: i.title, event_id: i.event_id }) },
      }),
    ]) : null;
    const fresh = freshUntil.get(i.doc_id) > Date.now();
    return el('li', { class: fresh ? 'item fresh' : 'item', dataset: { doc: i.doc_id, event: i.event_id } }, [
      el('div', { class: 'meta' }, [
        el('time', { text: fmtTime(i.detected_at, me.utc_offset_hours) }),
        el('span', { class: 'site', text: i.source_name }),
      ]),
      title,
      el('p', { class: 'summary', text: i.summary || '' }),
      el('div', { class: 'tags' }, tags),
      actions,
    ]);
  }

  function renderStream() {
    const list = [...items.values()].sort((a, b) => b.seq - a.seq).slice(0, MAX_ITEMS);
    for (const k of items.keys()) if (!list.find((i) => i.doc_id === k)) items.delete(k);
    $('stream').replaceChildren(...list.map(itemRow));
  }

  function renderEvents() {
    for (const c of charts) c.dispose();
    charts = [];
    const list = [...events.values()].sort((a, b) => b.heat - a.heat).slice(0, 30);
    const rows = list.map((e, idx) => {
      const spark = el('div', { class: 'spark' });
      const row = el('li', { class: 'event' + (e.spiking ? ' spiking' : ''), dataset: { event: e.event_id } }, [
        el('span', { class: 'rank', text: String(idx + 1) }),
        el('div', { class: 'ev-main' }, [
          el('button', { type: 'button', class: 'linklike ev-title', text: e.title || e.event_id, on: { click: () => showEvent(e.event_id) } }),
          el('div', { class: 'tags' }, [
            ...((e.judgement ? e.judgement.priorities : e.priorities) || []).map((p) => el('span', { class: 'tag p-' + p, text: label('priority', p) })),
            e.judgement ? el('span', { class: 'tag judged', text: '已研判' }) : null,
            e.district ? el('span', { class: 'tag district', text: e.district }) : null,
            e.severity_level ? el('span', { class: 'tag sev-' + e.severity_level + (e.severity_confirmed ? ' confirmed' : ' proposed'), text: e.severity_label }) : null,
            e.case_ids && e.case_ids.length ? el('span', { class: 'tag cased', text: '已立案' }) : null,
          ]),
        ]),
        el('div', { class: 'ev-num' }, [
          el('span', { class: 'heat', text: '热度 ' + Number(e.heat).toFixed(1) }),
          el('span', { class: 'count', text: e.doc_count + ' 条' }),
        ]),
        spark,
      ]);
      return { row, spark, e };
    });
    $('events').replaceChildren(...rows.map((r) => r.row));
    if (window.echarts) {
      for (const { spark, e } of rows) {
        const c = echarts.init(spark, null, { renderer: 'canvas', width: 110, height: 28 });
        c.setOption({
          animation: false,
          grid: { left: 1, right: 1, top: 2, bottom: 2 },
          xAxis: { type: 'category', show: false, data: e.trend.map((p) => p[0]) },
          yAxis: { type: 'value', show: false, scale: true },
          series: [{ type: 'line', data: e.trend.map((p) => p[1]), symbol: 'none', lineStyle: { width: 1.5, color: '#c0392b' }, areaStyle: { color: 'rgba(192,57,43,0.15)' } }],
        });
        charts.push(c);
      }
    }
  }

  async function renderDistricts() {
    const cells = await getJSON('/api/districts').catch(() => []);
    const max = Math.max(1, ...cells.map((c) => c.items_24h));
    $('districts').replaceChildren(...cells.map((c) => {
      const level = c.breached_cases > 0 ? 'hot' : c.items_24h / max > 0.5 ? 'warm' : c.items_24h > 0 ? 'mild' : 'calm';
      return el('button', {
        type: 'button', class: 'cell ' + level, dataset: { district: c.district },
        title: `${c.district}：信息 ${c.items_24h} 条，负面 ${c.negative_24h} 条，活跃事件 ${c.events_active} 个，在办案件 ${c.open_cases} 件，超时 ${c.breached_cases} 件`,
        on: { click: () => { $('f-district').value = $('f-district').value === c.district ? '' : c.district; reconnect(); } },
      }, [
        el('strong', { text: c.district }),
        el('span', { text: `信息 ${c.items_24h}` }),
        el('span', { text: `负面 ${c.negative_24h}` }),
        el('span', { text: `在办 ${c.open_cases}` }),
        c.breached_cases ? el('span', { class: 'bad', text: `超时 ${c.breached_cases}` }) : null,
      ]);
    }));
  }

  function renderDeadlines() {
    // Cases are not public: an anonymous reader of the public feed sees why the board is empty.
    if (!me.user) { $('deadlines').replaceChildren(el('li', { class: 'hint', text: '案件时限仅对登录用户显示' })); return; }
    const open = [...cases.values()].filter((c) => c.state !== 'closed' && c.next_due)
      .sort((a, b) => Date.parse(a.next_due) - Date.parse(b.next_due)).slice(0, 50);
    $('deadlines').replaceChildren(...open.map((c) => {
      const next = (c.deadline_status || []).filter((d) => !d.met_at).sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at))[0];
      return el('li', { class: 'dl ' + c.status, dataset: { due: String(Date.parse(c.next_due)), case: c.case_id } }, [
        el('button', { type: 'button', class: 'linklike', text: c.title, on: { click: () => showCase(c.case_id) } }),
        el('span', { class: 'owner', text: c.owner.name }),
        el('span', { class: 'tag severity' + (c.severity_confirmed ? ' confirmed' : ' proposed'), text: c.severity_label }),
        ['disputed', 'reopened', 'new'].includes(c.state) ? el('span', { class: 'tag state-' + c.state, text: label('state', c.state) }) : null,
        el('span', { class: 'dl-kind', text: next ? next.label : '' }),
        el('span', { class: 'countdown', text: '' }),
      ]);
    }));
    YQCases.tick($('deadlines'));
  }

  function renderStats() {
    $('stats').textContent = `信息 ${items.size ? '' : ''}`;
    getJSON('/api/stats').then((s) => { $('stats').textContent = `累计信息 ${s.items} 条 · 事件 ${s.events} 个 · 案件 ${s.cases} 件`; }).catch(() => {});
  }

  let openCase = null;

  async function showCase(id) {
    openCase = id;
    const body = $('detail-body');
    body.replaceChildren(el('p', { text: '加载中…' }));
    $('detail').showModal();
    await YQCases.render(body, id, () => {});
  }

  async function showEvent(id) {
    openCase = null;
    const body = $('detail-body');
    body.replaceChildren(el('p', { text: '加载中…' }));
    $('detail').showModal();
    const d = await getJSON('/api/events/' + encodeURIComponent(id)).catch((e) => ({ error: e.message }));
    if (d.error) { body.replaceChildren(el('p', { class: 'error', text: d.error })); return; }
    const e = d.event;
    const isDesk = me.role === 'desk' || me.role === 'admin';
    body.replaceChildren(
      el('h2', { text: e.title }),
      el('dl', { class: 'facts' }, [
        el('dt', { text: '事件编号' }), el('dd', { text: e.event_id }),
        el('dt', { text: '热度' }), el('dd', { text: Number(e.heat).toFixed(1) + (e.spiking ? '（快速上升）' : '') }),
        el('dt', { text: '信息量' }), el('dd', { text: `${e.doc_count} 条，${e.source_count} 个来源` }),
        el('dt', { text: '属地' }), el('dd', { text: e.district || '—' }),
        el('dt', { text: '领域/主管部门' }), el('dd', { text: `${e.domain || '—'} / ${e.department || '—'}` }),
        el('dt', { text: '首次发现' }), el('dd', { text: fmtTime(e.first_detected_at, me.utc_offset_hours) }),
        el('dt', { text: '最近' }), el('dd', { text: fmtTime(e.last_seen_at, me.utc_offset_hours) }),
        el('dt', { text: '级别' }), el('dd', { class: 'severity', text: e.severity_label }),
        el('dt', { text: '机器判定类别' }), el('dd', { text: (e.priorities || []).map((p) => label('priority', p)).join('、') || '—' }),
        el('dt', { text: '关键词' }), el('dd', { text: (e.keywords || []).join('、') || '—' }),
        el('dt', { text: '案件' }), el('dd', {}, (e.case_ids || []).map((c) => el('button', { type: 'button', class: 'linklike', text: c, on: { click: () => showCase(c) } }))),
      ]),
      isDesk ? judgeForm(e) : '',
      isDesk ? el('button', { type: 'button', class: 'open-case', text: '就此事件立案', on: { click: () => { $('detail').close(); openCaseDialog({ title: e.title, event_id: e.event_id }); } } }) : '',
      el('h3', { text: '最近信息' }),
      el('ol', { class: 'stream' }, d.items.map(itemRow)),
    );
  }

  // 研判 of the categories: pre-checked with the current ones (the desk's if judged before).
  function judgeForm(e) {
    const current = new Set((e.judgement ? e.judgement.priorities : e.priorities) || []);
    const boxes = Object.entries(YQ.LABELS.priority).map(([k, v]) => el('label', { class: 'check' }, [
      el('input', { type: 'checkbox', name: 'priority', value: k, ...(current.has(k) ? { checked: 'checked' } : {}) }), v,
    ]));
    const note = el('input', { name: 'note', placeholder: '研判意见（可选）' });
    const info = e.judgement ? el('p', { class: 'hint', text: `已由 ${e.judgement.by} 于 ${fmtTime(e.judgement.at, me.utc_offset_hours)} 研判` }) : null;
    const f = el('form', { class: 'grid-form judge-form' }, [
      el('h3', { text: '研判：确认或调整重点类别' }), info, el('div', { class: 'checks' }, boxes), note,
      el('div', { class: 'row' }, [el('button', { type: 'submit', text: '确认类别' })]),
    ]);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const priorities = [...f.querySelectorAll('input[name=priority]:checked')].map((i) => i.value);
      try {
        const v = await api('POST', '/api/events/' + encodeURIComponent(e.event_id) + '/judge', { priorities, note: note.value });
        events.set(v.event_id, v);
        later('events', renderEvents);
        // With a case the 研判 is respond's (audited); it shows when the case event comes back.
        toast((v.case_ids || []).length ? '研判已提交，案件更新后显示' : '类别已确认');
      } catch (err) { toast(err.message, true); }
    });
    return f;
  }

  function openCaseDialog(pre) {
    const f = $('case-form');
    f.reset();
    f.elements.title.value = pre.title || '';
    f.elements.event_id.value = pre.event_id || '';
    $('case-dialog').showModal();
  }

  function connect() {
    if (source) source.close();
    const live = $('live');
    source = new EventSource('/api/stream?' + filters());
    source.onopen = () => { live.textContent = '● 实时'; live.className = 'live on'; };
    source.onerror = () => { live.textContent = '● 重连中'; live.className = 'live off'; };
    source.addEventListener('item', (ev) => {
      const i = JSON.parse(ev.data);
      if (!items.has(i.doc_id)) freshUntil.set(i.doc_id, Date.now() + 8000);
      if (freshUntil.size > 1000) freshUntil.clear();
      items.set(i.doc_id, i);
      later('stream', renderStream);
      later('stats', renderStats);
    });
    source.addEventListener('event', (ev) => {
      const e = JSON.parse(ev.data);
      events.set(e.event_id, e);
      later('events', renderEvents);
    });
    source.addEventListener('case', (ev) => {
      const c = JSON.parse(ev.data);
      cases.set(c.case_id, c);
      // The answer to a command shows in the open case, unless the officer is typing in it.
      const body = $('detail-body');
      if ($('detail').open && openCase === c.case_id && !body.contains(document.activeElement)) {
        YQCases.render(body, c.case_id, () => {});
      }
      later('deadlines', renderDeadlines);
      later('districts', renderDistricts);
    });
    source.addEventListener('skipped', (ev) => {
      // At peak rates the server sends each viewer only the newest items of each batch.
      skipped += JSON.parse(ev.data).items || 0;
      $('skipped').textContent = `高峰期已省略 ${skipped} 条（列表保留最新信息，统计不受影响）`;
      $('skipped').hidden = false;
    });
    source.addEventListener('resync', () => load());
  }

  async function load() {
    const q = filters();
    const [its, evs, cs] = await Promise.all([
      getJSON('/api/items?limit=100&' + q), getJSON('/api/events?' + q), me.user ? getJSON('/api/cases?state=open') : [],
    ]);
    items.clear(); for (const i of its) items.set(i.doc_id, i);
    events.clear(); for (const e of evs) events.set(e.event_id, e);
    cases.clear(); for (const c of cs) cases.set(c.case_id, c);
    renderStream(); renderEvents(); renderDeadlines(); renderDistricts(); renderStats();
  }

  // The source filter, by outlet name; sources that appear later are added, the choice kept.
  async function loadSources() {
    const sources = await getJSON('/api/sources').catch(() => null);
    if (!sources) return;
    const sel = $('f-source');
    const keep = sel.value;
    sel.replaceChildren(el('option', { value: '', text: '全部' }), ...sources.map((s) => el('option', { value: s.id, text: s.name })));
    sel.value = keep;
  }

  function reconnect() {
    connect();
    load().catch((e) => toast(e.message, true));
  }

  async function start() {
    me = await YQ.header();
    YQ.options($('f-priority'), 'priority', '全部');
    YQ.options($('f-sentiment'), 'sentiment', '全部');
    const ds = $('f-district');
    ds.replaceChildren(el('option', { value: '', text: '全部' }), ...me.districts.map((d) => el('option', { value: d, text: d })));
    await loadSources();
    for (const id of ['f-priority', 'f-district', 'f-sentiment', 'f-source']) $(id).addEventListener('change', reconnect);
    const isDesk = me.role === 'desk' || me.role === 'admin';
    for (const b of document.querySelectorAll('.desk-only')) b.hidden = !isDesk;

    // Dialogs.
    const units = isDesk ? await getJSON('/api/units').catch(() => []) : [];
    const unitOpts = (sel, empty) => sel.replaceChildren(el('option', { value: '', text: empty }), ...units.map((u) => el('option', { value: u.id, text: u.name })));
    unitOpts($('intake-unit'), '请选择');
    unitOpts($('case-unit'), '按规则自动分派');
    $('intake-district').replaceChildren(el('option', { value: '', text: '全市/不确定' }), ...me.districts.map((d) => el('option', { value: d, text: d })));
    YQ.options($('case-severity'), 'severity', '由系统拟定');
    $('open-intake').addEventListener('click', () => $('intake-dialog').showModal());
    $('open-case').addEventListener('click', () => openCaseDialog({}));
    for (const b of document.querySelectorAll('dialog .cancel')) b.addEventListener('click', () => b.closest('dialog').close());
    $('intake-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const d = Object.fromEntries(new FormData(ev.target).entries());
      try { await api('POST', '/api/intake', d); toast('已报送，宣传、网信部门将收到提示'); $('intake-dialog').close(); ev.target.reset(); } catch (e) { toast(e.message, true); }
    });
    $('case-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const d = Object.fromEntries(new FormData(ev.target).entries());
      const body = { title: d.title, event_id: d.event_id || null, severity: d.severity || null, owner_unit_id: d.owner_unit_id || null };
      try {
        const r = await api('POST', '/api/cases', body);
        toast('立案指令已发送');
        $('case-dialog').close();
        YQ.follow(r.message_id).then((o) => {
          if (o.status === 'rejected') toast('未立案：' + o.message, true);
          else if (o.status === 'accepted') toast('已立案');
        });
      } catch (e) { toast(e.message, true); }
    });

    connect();
    await load().catch((e) => toast(e.message, true));
    setInterval(() => YQCases.tick(document), 1000);
    setInterval(() => { renderDistricts(); loadSources(); }, 30000);
  }

  document.addEventListener('DOMContentLoaded', start);
})();
