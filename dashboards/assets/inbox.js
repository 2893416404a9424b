// Unit inbox: the server returns only this unit's cases; the list stays live through SSE.
'use strict';

(() => {
  const { el, label, fmtTime, toast, getJSON, api } = YQ;
  const $ = (id) => document.getElementById(id);
  let me = null;
  let selected = null;
  let cases = [];

  function row(c) {
    const next = (c.deadline_status || []).filter((d) => !d.met_at).sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at))[0];
    const tr = el('tr', { class: 'case-row ' + c.status + (c.case_id === selected ? ' selected' : ''), dataset: { case: c.case_id } }, [
      el('td', {}, [el('button', { type: 'button', class: 'linklike', text: c.title, on: { click: () => select(c.case_id) } })]),
      el('td', { text: c.owner.name }),
      el('td', { class: 'state ' + c.state, text: label('state', c.state) }),
      el('td', { text: next ? `${next.label} ${fmtTime(next.due_at, me.utc_offset_hours)}` : '—' }),
      el('td', {}, [next ? el('span', { class: 'countdown' }) : el('span', { text: '—' })]),
    ]);
    if (next) { tr.classList.add('dl'); tr.dataset.due = String(Date.parse(next.due_at)); }
    return tr;
  }

  async function load() {
    const q = new URLSearchParams();
    if ($('f-state').value) q.set('state', $('f-state').value);
    if ($('f-unit').value) q.set('unit', $('f-unit').value);
    cases = await getJSON('/api/cases?' + q.toString());
    $('case-rows').replaceChildren(...cases.map(row));
    $('empty').hidden = cases.length > 0;
    YQCases.tick(document);
  }

  async function select(id) {
    selected = id;
    for (const tr of document.querySelectorAll('tr.case-row')) tr.classList.toggle('selected', tr.dataset.case === id);
    await YQCases.render($('case-detail'), id, () => {});
  }

  async function start() {
    me = await YQ.header();
    if (me.role === 'unit') $('inbox-title').textContent = `${me.unit_name || me.unit_id} · 交办案件`;
    $('f-state').addEventListener('change', () => load().catch((e) => toast(e.message, true)));
    if (me.role !== 'unit') {
      // Desk and leaders look across units; a unit account is narrowed on the server anyway.
      const units = await getJSON('/api/units').catch(() => []);
      $('f-unit').replaceChildren(el('option', { value: '', text: '全部' }), ...units.map((u) => el('option', { value: u.id, text: u.name })));
      $('f-unit-label').hidden = false;
      $('f-unit').addEventListener('change', () => load().catch((e) => toast(e.message, true)));
    }
    $('intake-district').replaceChildren(el('option', { value: '', text: '全市/不确定' }), ...me.districts.map((d) => el('option', { value: d, text: d })));
    const canReport = me.role === 'unit' || me.role === 'desk' || me.role === 'admin';
    $('open-intake').hidden = !canReport || me.role !== 'unit';
    $('open-intake').addEventListener('click', () => $('intake-dialog').showModal());
    for (const b of document.querySelectorAll('dialog .cancel')) b.addEventListener('click', () => b.closest('dialog').close());
    $('intake-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const d = Object.fromEntries(new FormData(ev.target).entries());
      try { await api('POST', '/api/intake', d); toast('已报送，宣传、网信部门将收到提示'); $('intake-dialog').close(); ev.target.reset(); } catch (e) { toast(e.message, true); }
    });
    await load().catch((e) => toast(e.message, true));
    const src = new EventSource('/api/stream');
    src.onopen = () => { $('live').textContent = '● 实时'; $('live').className = 'live on'; };
    src.onerror = () => { $('live').textContent = '● 重连中'; $('live').className = 'live off'; };
    // The stream only carries this unit's cases for a unit account (filtered on the server).
    src.addEventListener('case', (ev) => {
      const c = JSON.parse(ev.data);
      // A case this viewer has not seen yet is a new assignment: say so, it is the push notice.
      if (!cases.some((x) => x.case_id === c.case_id)) {
        toast(`收到新交办案件：${c.title}`);
        document.title = '【新案件】' + document.title.replace(/^【新案件】/, '');
      }
      load().catch(() => {});
      if (c.case_id === selected) select(selected);
    });
    src.addEventListener('resync', () => load().catch(() => {}));
    setInterval(() => YQCases.tick(document), 1000);
  }

  document.addEventListener('DOMContentLoaded', start);
})();
