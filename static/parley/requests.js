/*
 * The friend requests page (templates/relationships/requests.html): requests sent to
 * me (accept, accept and add back, refuse, delete) and sent by me (withdraw). While it
 * is open and visible, requests sent to me count as read.
 */
(function () {
  'use strict';

  const {$, el, button, errorText, formatTime, avatar} = ParleyUI;
  const EVENT = ParleyChat.EVENT;
  const TYPES = ParleyChat.TYPES;

  const state = {
    applications: [],    // [FriendApplication]
    unreadCount: 0,
    errors: new Map(),   // userID + type -> error text shown in that row
    remarks: new Map(),  // userID -> the remark typed for accepting
    busy: new Set(),     // rows with a call in flight
    marking: false,
    ready: false,
  };

  let chat;

  const key = (a) => `${a.type}:${a.userID}`;

  function render() {
    const incoming = state.applications.filter((a) => a.type === TYPES.SNS_APPLICATION_SENT_TO_ME);
    const outgoing = state.applications.filter((a) => a.type === TYPES.SNS_APPLICATION_SENT_BY_ME);
    const newestFirst = (a, b) => (b.time || 0) - (a.time || 0);
    $('incoming-list').replaceChildren(...incoming.sort(newestFirst).map(renderIncoming));
    $('outgoing-list').replaceChildren(...outgoing.sort(newestFirst).map(renderOutgoing));
    $('incoming-count').textContent = String(incoming.length);
    $('outgoing-count').textContent = String(outgoing.length);
    $('incoming-empty').hidden = incoming.length > 0;
    $('outgoing-empty').hidden = outgoing.length > 0;
  }

  function who(a, testid) {
    const name = a.nick || a.userID;
    const details = el('div', {className: 'details'});
    if (a.wording) {
      details.append(el('span', {className: 'wording', 'data-testid': 'request-wording',
                                 text: `“${a.wording}”`}));
    }
    details.append(el('span', {className: 'muted', 'data-testid': 'request-time',
                               text: formatTime(a.time)}));
    return [avatar(a.avatar, name), el('div', {className: 'body'},
      el('div', {className: 'who'},
        el('span', {className: 'name', 'data-testid': testid, text: name}),
        el('span', {className: 'muted user-id', 'data-testid': 'request-user-id', text: a.userID})),
      details)];
  }

  function rowEnd(li, a) {
    const error = state.errors.get(key(a));
    if (error) {
      li.append(el('p', {className: 'status sub', 'data-kind': 'error', 'data-testid': 'request-error',
                         role: 'alert', text: error}));
    }
    if (state.busy.has(key(a))) {
      for (const b of li.querySelectorAll('button, input')) b.disabled = true;
    }
    return li;
  }

  function renderIncoming(a) {
    const remark = el('input', {'data-testid': 'accept-remark', maxlength: 96,
                                placeholder: 'Remark (optional)',
                                'aria-label': `Remark for ${a.nick || a.userID}`});
    remark.value = state.remarks.get(a.userID) || '';
    remark.addEventListener('input', () => state.remarks.set(a.userID, remark.value));
    const accept = (type) => () => run(a, chat.acceptFriendApplication(Object.assign(
      {userID: a.userID, type}, remark.value.trim() ? {remark: remark.value.trim()} : {})));
    const actions = el('div', {className: 'actions sub'},
      remark,
      button('Accept', 'request-accept', accept(TYPES.SNS_APPLICATION_AGREE)),
      button('Accept and add back', 'request-accept-add', accept(TYPES.SNS_APPLICATION_AGREE_AND_ADD),
        'primary'),
      button('Refuse', 'request-refuse', () => run(a, chat.refuseFriendApplication({userID: a.userID})),
        'danger-outline'),
      button('Delete', 'request-delete', () => run(a, chat.deleteFriendApplication(
        {userID: a.userID, type: TYPES.SNS_APPLICATION_SENT_TO_ME}))));
    const li = el('li', {className: 'person', 'data-testid': 'incoming-request', 'data-user-id': a.userID},
      ...who(a, 'request-name'), actions);
    return rowEnd(li, a);
  }

  function renderOutgoing(a) {
    const actions = el('div', {className: 'actions'},
      el('span', {className: 'tag', text: 'Waiting for an answer'}),
      button('Withdraw', 'request-withdraw', () => run(a, chat.deleteFriendApplication(
        {userID: a.userID, type: TYPES.SNS_APPLICATION_SENT_BY_ME}))));
    const li = el('li', {className: 'person', 'data-testid': 'outgoing-request', 'data-user-id': a.userID},
      ...who(a, 'request-name'), actions);
    return rowEnd(li, a);
  }

  /** One answer to a request; the list event that follows removes the row. */
  function run(a, promise) {
    const k = key(a);
    state.errors.delete(k);
    state.busy.add(k);
    render();
    promise.then(() => {
      state.remarks.delete(a.userID);
    }, (err) => {
      state.errors.set(k, errorText(err));
    }).finally(() => {
      state.busy.delete(k);
      render();
    });
  }

  /** Requests sent to me count as read while this page is in front. */
  function markRead() {
    if (!state.ready || state.marking || !state.unreadCount) return;
    if (document.visibilityState === 'hidden') return;
    state.marking = true;
    chat.setFriendApplicationRead()
      .catch((err) => console.warn('setFriendApplicationRead failed', err))
      .finally(() => { state.marking = false; });
  }

  ParleyUI.start((c) => {
    chat = c;
    chat.on(EVENT.FRIEND_APPLICATION_LIST_UPDATED, (event) => {
      const data = event.data || {};
      state.applications = (data.friendApplicationList || []).filter((a) => a && a.userID);
      state.unreadCount = data.unreadCount || 0;
      const present = new Set(state.applications.map(key));
      for (const k of Array.from(state.errors.keys())) if (!present.has(k)) state.errors.delete(k);
      render();
      markRead();
    });
    chat.on(EVENT.PROFILE_UPDATED, () => render());  // the SDK refreshed nicks in the list
    chat.on(EVENT.SDK_READY, () => {
      state.ready = true;
      markRead();
    });
    chat.on(EVENT.SDK_NOT_READY, () => { state.ready = false; });
    document.addEventListener('visibilitychange', markRead);
    render();
  });
})();
