/*
 * The blocklist page (templates/relationships/blocklist.html): who I blocked, block a
 * UserID, unblock. Follows BLACKLIST_UPDATED, so a change from another device shows.
 */
(function () {
  'use strict';

  const {$, el, button, errorText, avatar, setStatus} = ParleyUI;
  const EVENT = ParleyChat.EVENT;

  const state = {
    blocked: [],           // [userID], as the SDK last handed them out
    profiles: new Map(),   // userID -> Profile (Tencent's blocklist holds only UserIDs)
    asked: new Set(),
    busy: new Set(),
  };

  let chat;

  function render() {
    const list = state.blocked.slice().sort((a, b) => a.localeCompare(b));
    $('block-list').replaceChildren(...list.map((userID) => {
      const profile = state.profiles.get(userID) || {};
      const name = profile.nick || userID;
      const unblock = button('Unblock', 'unblock', () => unblockUser(userID));
      unblock.disabled = state.busy.has(userID);
      return el('li', {className: 'person', 'data-testid': 'blocked-user', 'data-user-id': userID},
        avatar(profile.avatar, name),
        el('div', {className: 'body'}, el('div', {className: 'who'},
          el('span', {className: 'name', 'data-testid': 'blocked-name', text: name}),
          el('span', {className: 'muted user-id', 'data-testid': 'blocked-user-id', text: userID}))),
        el('div', {className: 'actions'}, unblock));
    }));
    $('block-count').textContent = String(list.length);
    $('block-empty').hidden = list.length > 0;
  }

  function fillProfiles() {
    const missing = state.blocked.filter((id) => !state.asked.has(id));
    if (!missing.length) return;
    for (const id of missing) state.asked.add(id);
    chat.getUserProfile({userIDList: missing}).then(({data}) => {
      for (const p of data) state.profiles.set(p.userID, p);
      render();
    }, (err) => console.warn('getUserProfile failed', err));
  }

  /** A call answered {successUserIDList?, failureUserIDList?}: the failure for userID. */
  function failureFor(data, userID) {
    const failed = (data && Array.isArray(data.failureUserIDList) ? data.failureUserIDList : [])
      .find((x) => x && (x.userID === userID || x === userID));
    if (!failed) return null;
    return Object.assign(new Error(failed.message || 'failed'), {code: failed.code});
  }

  async function blockUser(userID) {
    const status = $('block-status');
    setStatus(status, '');
    $('block-submit').disabled = true;
    try {
      const {data} = await chat.addToBlacklist({userIDList: [userID]});
      const failure = failureFor(data, userID);
      if (failure) throw failure;
      $('block-input').value = '';
      setStatus(status, `${userID} is blocked.`, 'ok');
    } catch (err) {
      setStatus(status, `Could not block ${userID}: ${errorText(err)}`, 'error');
    } finally {
      $('block-submit').disabled = false;
    }
  }

  async function unblockUser(userID) {
    const status = $('block-status');
    setStatus(status, '');
    state.busy.add(userID);
    render();
    try {
      const {data} = await chat.removeFromBlacklist({userIDList: [userID]});
      const failure = failureFor(data, userID);
      if (failure) throw failure;
      setStatus(status, `${userID} is unblocked.`, 'ok');
    } catch (err) {
      setStatus(status, `Could not unblock ${userID}: ${errorText(err)}`, 'error');
    } finally {
      state.busy.delete(userID);
      render();
    }
  }

  ParleyUI.start((c) => {
    chat = c;
    chat.on(EVENT.BLACKLIST_UPDATED, (event) => {
      state.blocked = (event.data || []).filter((id) => typeof id === 'string');
      render();
      fillProfiles();
    });
    chat.on(EVENT.PROFILE_UPDATED, (event) => {
      for (const p of event.data || []) {
        if (state.profiles.has(p.userID)) {
          state.profiles.set(p.userID, Object.assign({}, state.profiles.get(p.userID), p));
        }
      }
      render();
    });
    $('block-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const userID = $('block-input').value.trim();
      if (userID) blockUser(userID);
    });
    render();
  });
})();
