// Shared helpers of every page. Crawled text is untrusted: it only ever reaches the page through
// textContent / attribute setters on elements built here (never innerHTML), links only from the
// server-vetted `link` field (http/https), and the CSP forbids inline script anyway.
'use strict';

// Our own code must run under the CSP too: record violations so tests (and operators, in the
// console) see them instead of a silently broken widget.
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile || ''}:${e.lineNumber || ''}`);
});

const YQ = (() => {
  const LABELS = {
    priority: {
      decision: '重要决策部署', public_interest: '公众切身利益', credibility: '政府形象公信力',
      emergency: '突发事件与自然灾害', moral: '道德底线民生', false_info: '不实信息',
    },
    severity: { general: '一般', large: '较大', major: '重大', extremely_major: '特别重大' },
    state: {
      new: '新建', assigned: '已交办', acknowledged: '已接收', responding: '回应中',
      responded: '已回应', closed: '已办结', disputed: '有异议', reassigned: '已改派', reopened: '重新打开',
    },
    deadline: {
      authoritative_info: '发布权威信息', press_conference: '举行新闻发布会',
      response: '予以回应', continued_release: '持续发布',
    },
    response: {
      authoritative_release: '发布权威信息', press_conference: '新闻发布会', reply: '答复回应',
      referral: '移交处置', continued_release: '持续发布',
    },
    disposition: {
      constructive_suggestion: '建设性意见建议（公开采纳情况）',
      practical_difficulty: '实际困难（公开解决方案）',
      major_problem: '重大问题（公开调查处置情况）',
      unclear_understanding: '模糊认识（权威解读澄清）',
      wrong_view: '错误看法（引导纠正）',
      false_information: '虚假不实信息（辟谣并移交公安网信）',
    },
    sentiment: { positive: '正面', neutral: '中性', negative: '负面' },
    // Case history kinds the respond stage writes.
    caseEvent: {
      opened: '立案', assigned: '交办', acknowledged: '接收', response_recorded: '记录回应',
      reminder: '提醒', breached: '超时', escalated: '升级督办', severity_changed: '调整级别',
      priorities_changed: '调整类别', priorities_set: '研判类别', disputed: '提出异议', dispute_rejected: '异议未采纳',
      reassigned: '改派', disposition_set: '确定处置类型', closed: '办结', reopened: '重新打开',
      merged: '合并', merged_in: '并入', cyberspace_notified: '网信部门通报',
      cyberspace_reply_overdue: '网信通报回复超期', command_rejected: '指令被拒绝',
    },
  };

  let mePromise = null;
  let skewMs = 0;

  function me() {
    if (!mePromise) {
      mePromise = fetch('/api/me', { credentials: 'same-origin' })
        .then((r) => r.json())
        .then((m) => {
          skewMs = Date.parse(m.server_now) - Date.now();
          return m;
        });
    }
    return mePromise;
  }

  function now() {
    return Date.now() + skewMs;
  }

  // el('div', {class: 'x', text: 'y', title: 'z', dataset: {...}, on: {click: fn}}, [children])
  function el(tag, opts, children) {
    const e = document.createElement(tag);
    const o = opts || {};
    for (const [k, v] of Object.entries(o)) {
      if (v === undefined || v === null) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'class') e.className = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      else if (k === 'href') { if (/^https?:\/\//i.test(v) || v.startsWith('/')) e.setAttribute('href', v); }
      else e.setAttribute(k, String(v));
    }
    for (const c of children || []) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  async function api(method, path, body) {
    const m = await me();
    const res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': m.csrf || '' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) throw new Error((data && data.error) || ('请求失败 ' + res.status));
    return data;
  }

  async function getJSON(path) {
    const res = await fetch(path, { credentials: 'same-origin' });
    if (res.status === 401) { location.href = '/login'; throw new Error('请先登录'); }
    if (!res.ok) {
      // The server says why in Chinese ({"error": ...}); show its words.
      let data = null;
      try { data = await res.json(); } catch (_) { data = null; }
      throw new Error((data && data.error) || ('请求失败 ' + res.status));
    }
    return res.json();
  }

  // What became of a command answered 202: polls its outcome until respond answered (or a
  // minute passed). Resolves to {status: 'accepted' | 'rejected' | 'pending', message}.
  async function follow(messageId) {
    for (let i = 0; i < 120; i++) {
      await new Promise((r) => setTimeout(r, 500));
      let o = null;
      try { o = await getJSON('/api/commands/' + encodeURIComponent(messageId)); } catch (_) { o = null; }
      if (o && o.status !== 'pending') return o;
    }
    return { status: 'pending', message: '' };
  }

  function pad(n) { return String(n).padStart(2, '0'); }

  // Display in the configured local time (Beijing) whatever the browser's zone.
  function fmtTime(iso, offsetHours) {
    if (!iso) return '—';
    const off = offsetHours === undefined ? 8 : offsetHours;
    const d = new Date(Date.parse(iso) + off * 3600 * 1000);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  }

  function countdown(ms) {
    const neg = ms < 0;
    let s = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const t = `${h}:${pad(m)}:${pad(s)}`;
    return neg ? `已超时 ${t}` : `剩余 ${t}`;
  }

  function toast(msg, bad) {
    let box = document.getElementById('toast');
    if (!box) { box = el('div', { id: 'toast', role: 'status' }); document.body.append(box); }
    const t = el('div', { class: bad ? 'toast bad' : 'toast', text: msg });
    box.append(t);
    setTimeout(() => t.remove(), 5000);
  }

  function label(kind, key) {
    return (LABELS[kind] && LABELS[kind][key]) || key || '—';
  }

  function options(select, kind, withEmpty) {
    select.replaceChildren();
    if (withEmpty) select.append(el('option', { value: '', text: withEmpty }));
    for (const [k, v] of Object.entries(LABELS[kind])) select.append(el('option', { value: k, text: v }));
  }

  // Header: who is logged in, a logout form carrying the CSRF token, links for the role.
  async function header() {
    const m = await me();
    const user = document.querySelector('header .user');
    const nav = document.querySelector('header nav');
    const allowed = {
      desk: ['/', '/inbox', '/reports', '/ops'],
      unit: ['/inbox'],
      leader: ['/', '/inbox', '/reports'],
      admin: ['/', '/inbox', '/reports', '/ops', '/admin'],
    };
    if (nav) {
      for (const a of nav.querySelectorAll('a')) {
        const ok = m.role ? allowed[m.role].includes(a.getAttribute('href')) : a.getAttribute('href') === '/';
        a.hidden = !ok;
        if (a.getAttribute('href') === location.pathname) a.classList.add('active');
      }
    }
    if (!user) return m;
    if (m.user) {
      const form = el('form', { method: 'post', action: '/logout', class: 'inline' }, [
        el('input', { type: 'hidden', name: 'csrf', value: m.csrf }),
        el('button', { type: 'submit', text: '退出' }),
      ]);
      user.replaceChildren(el('span', { class: 'who', text: `${m.user} · ${m.role_label}${m.unit_name ? ' · ' + m.unit_name : ''}` }), el('a', { href: '/account', text: '修改密码' }), form);
    } else {
      user.replaceChildren(el('span', { class: 'who', text: '未登录（只读）' }), el('a', { href: '/login', text: '登录' }));
    }
    document.body.dataset.role = m.role || 'anonymous';
    return m;
  }

  return { LABELS, me, now, el, api, getJSON, follow, fmtTime, countdown, toast, label, options, header };
})();
