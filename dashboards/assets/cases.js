// Case detail with the actions the viewer's role allows. The server enforces the same rules
// (a unit only acts on its own cases; 研判 is for the desk); hiding buttons is only courtesy.
'use strict';

const YQCases = (() => {
  const { el, api, label, fmtTime, toast, options } = YQ;
  // Commands of this viewer that respond refused, per case: shown on the case until reloaded.
  const rejections = new Map();

  function deadlineRow(d, m) {
    const due = Date.parse(d.due_at);
    return el('li', { class: 'dl ' + d.status, dataset: { due: String(due), met: d.met_at ? '1' : '' } }, [
      el('span', { class: 'dl-kind', text: d.label || label('deadline', d.kind) }),
      el('span', { class: 'dl-due', text: '截止 ' + fmtTime(d.due_at, m.utc_offset_hours) }),
      el('span', { class: 'countdown', text: d.met_at ? ('已完成 ' + fmtTime(d.met_at, m.utc_offset_hours)) : '' }),
    ]);
  }

  function form(title, fields, submitText, onSubmit) {
    const f = el('form', { class: 'grid-form action' }, [el('h3', { text: title }), ...fields,
      el('div', { class: 'row' }, [el('button', { type: 'submit', text: submitText })])]);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const data = Object.fromEntries(new FormData(f).entries());
      const btn = f.querySelector('button[type=submit]');
      btn.disabled = true;
      try {
        await onSubmit(data);
        f.reset();
      } catch (e) {
        toast(e.message, true);
      } finally {
        btn.disabled = false;
      }
    });
    return f;
  }

  function select(name, kind, empty) {
    const s = el('select', { name });
    options(s, kind, empty);
    return s;
  }

  async function render(container, caseId, onChange) {
    const m = await YQ.me();
    let detail;
    try {
      detail = await YQ.getJSON('/api/cases/' + encodeURIComponent(caseId));
    } catch (e) {
      container.replaceChildren(el('p', { class: 'error', text: e.message }));
      return;
    }
    const c = detail.case;
    // Sent means accepted for checking only: the outcome is followed and told to this viewer,
    // a refusal in respond's words, kept on the case.
    const send = async (body) => {
      const r = await api('POST', '/api/cases/' + encodeURIComponent(c.case_id) + '/commands', body);
      toast('已提交，等待处理结果');
      YQ.follow(r.message_id).then((o) => {
        if (o.status === 'rejected') {
          const list = rejections.get(c.case_id) || [];
          list.push(o.message);
          rejections.set(c.case_id, list);
          toast('未执行：' + o.message, true);
        } else if (o.status === 'accepted') {
          toast('已执行');
        } else {
          toast('处理结果尚未返回，请稍后查看办理记录', true);
        }
        if (container.isConnected) render(container, caseId, onChange);
        if (onChange) onChange();
      });
    };
    const can = new Set(c.allowed_actions || []);
    const parts = [
      el('h2', { class: 'case-title', text: c.title }),
      ...(rejections.get(c.case_id) || []).map((m) => el('p', { class: 'rejection', role: 'alert', text: '您提交的指令未执行：' + m })),
      el('dl', { class: 'facts' }, [
        el('dt', { text: '案件编号' }), el('dd', { text: c.case_id }),
        el('dt', { text: '状态' }), el('dd', { class: 'state ' + c.state, text: label('state', c.state) }),
        el('dt', { text: '责任单位' }), el('dd', { text: c.owner.name }),
        el('dt', { text: '分派依据' }), el('dd', { text: c.owner_reason }),
        el('dt', { text: '级别' }), el('dd', { class: 'severity', text: c.severity_label }),
        el('dt', { text: '时限档次' }), el('dd', { class: 'tier', text: c.tier_label }),
        el('dt', { text: '处置类型' }), el('dd', { text: c.disposition ? label('disposition', c.disposition) : '未定' }),
        el('dt', { text: '首次发现' }), el('dd', { text: fmtTime(c.detected_at, m.utc_offset_hours) }),
        el('dt', { text: '重点类别' }), el('dd', { text: (c.priorities || []).map((p) => label('priority', p)).join('、') || '—' }),
      ]),
      el('h3', { text: '回应时限' }),
      el('ol', { class: 'deadlines' }, (c.deadline_status || []).map((d) => deadlineRow(d, m))),
    ];
    const role = m.role;
    const isUnit = role === 'unit';
    const isDesk = role === 'desk' || role === 'admin';
    // Only what the case's state accepts is offered (the server refuses the rest anyway).
    const unitActions = () => {
      const actions = el('div', { class: 'actions' });
      if (can.has('acknowledge')) actions.append(el('button', {
        type: 'button', class: 'ack', text: '确认接收',
        on: { click: async () => { try { await send({ action: 'acknowledge' }); } catch (e) { toast(e.message, true); } } },
      }));
      if (can.has('record_response')) actions.append(form('记录回应', [
        el('label', {}, ['回应类型', select('kind', 'response')]),
        el('label', {}, ['回应时间（不填为现在）', el('input', { name: 'at', type: 'datetime-local' })]),
        el('label', {}, ['证据链接', el('input', { name: 'evidence_url', type: 'url', placeholder: 'https://' })]),
        el('label', {}, ['回应内容', el('textarea', { name: 'text', rows: '3', maxlength: '5000' })]),
      ], '提交回应', (d) => {
        const body = { action: 'respond', kind: d.kind, evidence_url: d.evidence_url || null, text: d.text || '' };
        // datetime-local is in local (Beijing) time; send an explicit instant.
        if (d.at) body.at = new Date(Date.parse(d.at + ':00Z') - m.utc_offset_hours * 3600 * 1000).toISOString();
        return send(body);
      }));
      if (can.has('dispute')) actions.append(form('提出异议（分派有误）', [
        el('label', {}, ['理由', el('textarea', { name: 'reason', rows: '2', required: 'required', maxlength: '1000' })]),
      ], '提交异议', (d) => send({ action: 'dispute', reason: d.reason })));
      return actions;
    };
    const unitCan = ['acknowledge', 'record_response', 'dispute'].some((a) => can.has(a));
    if (isUnit && unitCan) parts.push(unitActions());
    if (isDesk) {
      const units = await YQ.getJSON('/api/units').catch(() => []);
      const unitSel = el('select', { name: 'owner_unit_id' }, units.map((u) => el('option', { value: u.id, text: u.name })));
      unitSel.value = c.owner.id;
      const sevSel = select('severity', 'severity');
      if (c.severity) sevSel.value = c.severity;
      const dispSel = select('disposition', 'disposition');
      if (c.disposition) dispSel.value = c.disposition;
      parts.push(el('div', { class: 'actions judge' }, [
        el('h3', { text: '研判' }),
        can.has('change_severity') ? form('确认或调整级别', [
          el('label', {}, ['级别', sevSel]),
          el('label', {}, ['说明', el('input', { name: 'reason', placeholder: '研判确认', maxlength: '1000' })]),
        ], '确认级别', (d) => send({ action: 'severity', severity: d.severity, reason: d.reason || '' })) : null,
        can.has('reassign') ? form('改派责任单位', [
          el('label', {}, ['责任单位', unitSel]),
          el('label', {}, ['理由', el('input', { name: 'reason', required: 'required', maxlength: '1000' })]),
        ], '改派', (d) => send({ action: 'reassign', owner_unit_id: d.owner_unit_id, reason: d.reason })) : null,
        can.has('set_disposition') ? form('处置类型（七.3）', [
          el('label', {}, ['类型', dispSel]),
        ], '确定', (d) => send({ action: 'disposition', disposition: d.disposition })) : null,
        can.has('close') ? form('办结', [
          el('label', {}, ['说明', el('input', { name: 'reason', required: 'required', maxlength: '1000' })]),
        ], '办结', (d) => send({ action: 'close', reason: d.reason })) : null,
        can.has('reopen') ? form('重新打开', [
          el('label', {}, ['说明', el('input', { name: 'reason', required: 'required', maxlength: '1000' })]),
        ], '重新打开', (d) => send({ action: 'reopen', reason: d.reason })) : null,
      ]));
      // The desk can record for a unit that reported by phone; folded away, it is not its daily work.
      if (unitCan) parts.push(el('details', { class: 'on-behalf' }, [el('summary', { text: '代责任单位登记（接收、回应、异议）' }), unitActions()]));
    }
    parts.push(el('h3', { text: '办理记录' }));
    parts.push(el('ol', { class: 'log' }, (detail.log || []).map((l) => el('li', {}, [
      el('span', { class: 'when', text: fmtTime(l.at, m.utc_offset_hours) }),
      el('span', { class: 'who', text: l.actor }),
      el('span', { class: 'what' + (l.kind === 'command_rejected' || l.kind === 'breached' ? ' bad' : ''), text: label('caseEvent', l.kind) }),
      el('span', { class: 'detail', text: l.detail }),
    ]))));
    container.replaceChildren(...parts);
    tick(container);
  }

  // Countdown text and colour for every deadline row under `root`.
  function tick(root) {
    const m = { near: 0 };
    YQ.me().then((me) => { m.near = me.near_due_minutes * 60000; });
    const now = YQ.now();
    for (const li of (root || document).querySelectorAll('.dl[data-due]')) {
      if (li.dataset.met) continue;
      const left = Number(li.dataset.due) - now;
      const cd = li.querySelector('.countdown');
      if (cd) cd.textContent = YQ.countdown(left);
      li.classList.toggle('breached', left < 0);
      if (m.near) li.classList.toggle('near', left >= 0 && left <= m.near);
    }
  }

  return { render, tick, deadlineRow };
})();
