/*
 * The Contacts page (templates/relationships/contacts.html): my friends with their
 * remarks and friend lists, and finding people to send friend requests to.
 * Everything follows the SDK's list events, so changes from anywhere show up live.
 */
(function () {
  'use strict';

  const {$, el, button, errorText, avatar, setStatus} = ParleyUI;
  const EVENT = ParleyChat.EVENT;
  const TYPES = ParleyChat.TYPES;
  const ADD_SOURCE = 'AddSource_Type_Web';

  const state = {
    me: '',
    friends: [],             // [Friend], as the SDK last handed them out
    groups: [],              // [FriendGroup]
    blacklist: new Set(),    // UserIDs I blocked
    sentTo: new Set(),       // UserIDs with a request of mine waiting
    profiles: new Map(),     // userID -> Profile, for friends whose Friend has none
    asked: new Set(),        // UserIDs whose profile was asked for already
    filter: '',              // a friend list's name, or '' for everyone
    rows: new Map(),         // userID -> {confirmDelete, editingRemark, remarkDraft, error}
    results: null,           // the last search: [Profile], or null
    addForms: new Map(),     // userID -> the add-friend form under that search result
    addOutcomes: new Map(),  // userID -> {code, text, kind}
  };

  let chat;

  function rowState(userID) {
    if (!state.rows.has(userID)) {
      state.rows.set(userID, {confirmDelete: false, editingRemark: false, remarkDraft: '',
                              error: ''});
    }
    return state.rows.get(userID);
  }

  function profileOf(friend) {
    return Object.assign({}, state.profiles.get(friend.userID) || {}, friend.profile || {});
  }

  function nameOf(friend) {
    return profileOf(friend).nick || friend.userID;
  }

  function friendByID(userID) {
    return state.friends.find((f) => f.userID === userID) || null;
  }

  // --- friends ------------------------------------------------------------------------

  function renderGroups() {
    const chips = [groupChip('', `Everyone (${state.friends.length})`)];
    for (const g of state.groups) {
      const count = Number.isInteger(g.count) ? g.count : (g.userIDList || []).length;
      chips.push(groupChip(g.name, `${g.name} (${count})`, true));
    }
    if (state.filter && !state.groups.some((g) => g.name === state.filter)) state.filter = '';
    $('group-filter').replaceChildren(...chips);
  }

  function groupChip(name, label, deletable) {
    const chip = el('span', {className: 'chip', 'data-testid': 'group-chip', 'data-group': name,
                             'aria-pressed': String(state.filter === name)});
    const pick = el('button', {type: 'button', className: 'chip-label', text: label});
    pick.addEventListener('click', () => {
      state.filter = name;
      renderGroups();
      renderFriends();
    });
    chip.append(pick);
    if (deletable) {
      const del = el('button', {type: 'button', className: 'chip-x', 'data-testid': 'group-delete',
                                title: `Delete the list ${name}`, 'aria-label': `Delete the list ${name}`,
                                text: '×'});
      del.addEventListener('click', () => {
        setStatus($('group-error'), '');
        chat.deleteFriendGroup({name}).catch((err) =>
          setStatus($('group-error'), `Could not delete ${name}: ${errorText(err)}`, 'error'));
      });
      chip.append(del);
    }
    return chip;
  }

  function renderFriends() {
    const list = state.friends
      .filter((f) => !state.filter || (f.groupList || []).includes(state.filter))
      .sort((a, b) => nameOf(a).localeCompare(nameOf(b), undefined, {sensitivity: 'base'})
        || a.userID.localeCompare(b.userID));
    $('friend-list').replaceChildren(...list.map(renderFriend));
    $('friend-count').textContent = String(state.friends.length);
    $('friends-empty').hidden = list.length > 0;
    $('friends-empty').textContent = state.friends.length
      ? 'Nobody in this list.'
      : 'No contacts yet. Find people with the search and send them a friend request.';
  }

  function renderFriend(friend) {
    const userID = friend.userID;
    const rs = rowState(userID);
    const profile = profileOf(friend);
    const name = profile.nick || userID;

    const who = el('div', {className: 'who'},
      el('span', {className: 'name', 'data-testid': 'friend-name', text: name}),
      el('span', {className: 'muted user-id', 'data-testid': 'friend-user-id', text: userID}));
    const details = el('div', {className: 'details'});
    if (friend.remark) {
      details.append(el('span', {className: 'remark', 'data-testid': 'friend-remark',
                                 text: `Remark: ${friend.remark}`}));
    }
    for (const g of friend.groupList || []) {
      const chip = el('span', {className: 'chip small', 'data-testid': 'friend-group',
                               'data-group': g}, el('span', {text: g}));
      const x = el('button', {type: 'button', className: 'chip-x', 'data-testid': 'friend-group-remove',
                              title: `Take out of ${g}`, 'aria-label': `Take out of ${g}`, text: '×'});
      x.addEventListener('click', () => act(userID,
        chat.removeFromFriendGroup({name: g, userIDList: [userID]})));
      chip.append(x);
      details.append(chip);
    }
    if (profile.selfSignature) {
      details.append(el('span', {className: 'muted signature', text: profile.selfSignature}));
    }

    const actions = el('div', {className: 'actions'});
    const chatLink = el('a', {className: 'button-link', 'data-testid': 'friend-chat',
                              href: `/chat/#${encodeURIComponent(`C2C${userID}`)}`, text: 'Chat'});
    actions.append(chatLink);
    const free = state.groups.filter((g) => !(friend.groupList || []).includes(g.name));
    if (free.length) {
      const select = el('select', {'data-testid': 'friend-add-group', 'aria-label': `Add ${name} to a list`},
        el('option', {value: '', text: 'Add to list…'}),
        ...free.map((g) => el('option', {value: g.name, text: g.name})));
      select.addEventListener('change', () => {
        if (select.value) act(userID, chat.addToFriendGroup({name: select.value, userIDList: [userID]}));
      });
      actions.append(select);
    }
    actions.append(button('Remark', 'friend-edit-remark', () => {
      rs.editingRemark = !rs.editingRemark;
      rs.remarkDraft = friend.remark || '';
      renderFriends();
    }));
    actions.append(button('Delete', 'friend-delete', () => {
      rs.confirmDelete = !rs.confirmDelete;
      renderFriends();
    }, 'danger-outline'));

    const li = el('li', {className: 'person', 'data-testid': 'friend', 'data-user-id': userID},
      avatar(profile.avatar, name), el('div', {className: 'body'}, who, details), actions);

    if (rs.editingRemark) {
      const input = el('input', {'data-testid': 'friend-remark-input', maxlength: 96,
                                 'aria-label': `Remark for ${name}`, placeholder: 'Remark'});
      input.value = rs.remarkDraft;
      input.addEventListener('input', () => { rs.remarkDraft = input.value; });
      const form = el('form', {className: 'inline-form small sub', 'data-testid': 'friend-remark-form'},
        input, el('button', {type: 'submit', className: 'primary', 'data-testid': 'friend-remark-save',
                             text: 'Save'}),
        button('Cancel', 'friend-remark-cancel', () => {
          rs.editingRemark = false;
          renderFriends();
        }));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        act(userID, chat.updateFriend({userID, remark: input.value.trim()}).then(() => {
          rs.editingRemark = false;
        }));
      });
      li.append(form);
    }
    if (rs.confirmDelete) {
      li.append(el('div', {className: 'confirm sub', 'data-testid': 'friend-delete-confirm'},
        el('span', {text: `Remove ${name} from your contacts?`}),
        button('Only from my list', 'friend-delete-single', () => removeFriend(userID,
          TYPES.SNS_DELETE_TYPE_SINGLE), 'danger-outline'),
        button('Both ways', 'friend-delete-both', () => removeFriend(userID,
          TYPES.SNS_DELETE_TYPE_BOTH), 'danger'),
        button('Cancel', 'friend-delete-cancel', () => {
          rs.confirmDelete = false;
          renderFriends();
        })));
    }
    if (rs.error) {
      li.append(el('p', {className: 'status sub', 'data-kind': 'error', 'data-testid': 'friend-error',
                         role: 'alert', text: rs.error}));
    }
    return li;
  }

  /** Run a change for one friend's row; its error shows in the row. */
  function act(userID, promise) {
    const rs = rowState(userID);
    rs.error = '';
    return promise.then(() => renderFriends(), (err) => {
      rs.error = errorText(err);
      renderFriends();
    });
  }

  function removeFriend(userID, type) {
    const rs = rowState(userID);
    act(userID, chat.deleteFriend({userIDList: [userID], type}).then(({data}) => {
      const failed = (data && data.failureUserIDList || []).find((x) => x.userID === userID);
      if (failed) throw Object.assign(new Error(failed.message || 'not deleted'), {code: failed.code});
      rs.confirmDelete = false;
    }));
  }

  function setFriends(list) {
    state.friends = Array.isArray(list) ? list.filter((f) => f && typeof f.userID === 'string') : [];
    const present = new Set(state.friends.map((f) => f.userID));
    for (const id of Array.from(state.rows.keys())) if (!present.has(id)) state.rows.delete(id);
    renderGroups();
    renderFriends();
    renderResults();
    fillMissingProfiles();
  }

  /** Friends handed out without a nick: ask for their profiles once. */
  function fillMissingProfiles() {
    const missing = state.friends
      .filter((f) => !(f.profile && f.profile.userID) && !state.asked.has(f.userID))
      .map((f) => f.userID);
    if (!missing.length) return;
    for (const id of missing) state.asked.add(id);
    chat.getUserProfile({userIDList: missing}).then(({data}) => {
      for (const p of data) state.profiles.set(p.userID, p);
      renderFriends();
    }, (err) => console.warn('getUserProfile failed', err));
  }

  // --- finding people -----------------------------------------------------------------

  function relationOf(userID) {
    if (userID === state.me) return 'me';
    if (state.blacklist.has(userID)) return 'blocked';
    if (friendByID(userID)) return 'friend';
    if (state.sentTo.has(userID)) return 'requested';
    return 'none';
  }

  const RELATION_LABELS = {
    me: 'You', blocked: 'Blocked by you', friend: 'In your contacts', requested: 'Request sent',
  };

  function renderResults() {
    const box = $('search-results');
    if (!state.results) {
      box.replaceChildren();
      return;
    }
    box.replaceChildren(...state.results.map(renderResult));
  }

  function renderResult(profile) {
    const userID = profile.userID;
    const name = profile.nick || userID;
    const relation = relationOf(userID);
    const who = el('div', {className: 'who'},
      el('span', {className: 'name', 'data-testid': 'result-name', text: name}),
      el('span', {className: 'muted user-id', 'data-testid': 'result-user-id', text: userID}));
    const details = el('div', {className: 'details'});
    if (RELATION_LABELS[relation]) {
      details.append(el('span', {className: 'tag', 'data-testid': 'result-relation',
                                 text: RELATION_LABELS[relation]}));
    }
    if (profile.selfSignature) {
      details.append(el('span', {className: 'muted signature', text: profile.selfSignature}));
    }
    const actions = el('div', {className: 'actions'});
    if (relation === 'friend') {
      actions.append(el('a', {className: 'button-link', 'data-testid': 'result-chat',
                              href: `/chat/#${encodeURIComponent(`C2C${userID}`)}`, text: 'Chat'}));
    } else if (relation !== 'me') {
      actions.append(button('Add friend', 'add-friend', () => toggleAddForm(profile)));
    }
    const li = el('li', {className: 'person', 'data-testid': 'search-result', 'data-user-id': userID,
                         'data-relation': relation},
      avatar(profile.avatar, name), el('div', {className: 'body'}, who, details), actions);
    const form = state.addForms.get(userID);
    if (form && relation !== 'friend' && relation !== 'me') li.append(form);
    const outcome = state.addOutcomes.get(userID);
    if (outcome) {
      li.append(el('p', {className: 'status sub', 'data-testid': 'add-result', 'data-code': outcome.code,
                         'data-kind': outcome.kind, role: 'status', text: outcome.text}));
    }
    return li;
  }

  function toggleAddForm(profile) {
    const userID = profile.userID;
    if (state.addForms.has(userID)) {
      state.addForms.delete(userID);
    } else {
      state.addForms.set(userID, makeAddForm(profile));
    }
    renderResults();
    const form = state.addForms.get(userID);
    if (form) form.querySelector('[data-testid="add-wording"]').focus();
  }

  function makeAddForm(profile) {
    const userID = profile.userID;
    const name = profile.nick || userID;
    const wording = el('input', {'data-testid': 'add-wording', maxlength: 256,
                                 placeholder: 'A note to them (optional)',
                                 'aria-label': `Note to ${name}`});
    wording.value = state.me ? `Hi, I am ${state.me}` : '';
    const remark = el('input', {'data-testid': 'add-remark', maxlength: 96,
                                placeholder: 'Remark for them (optional)',
                                'aria-label': `Remark for ${name}`});
    const group = el('select', {'data-testid': 'add-group', 'aria-label': 'Friend list'},
      el('option', {value: '', text: 'No list'}),
      ...state.groups.map((g) => el('option', {value: g.name, text: g.name})));
    const type = el('select', {'data-testid': 'add-type', 'aria-label': 'Both ways or one way'},
      el('option', {value: TYPES.SNS_ADD_TYPE_BOTH, text: 'Friends both ways'}),
      el('option', {value: TYPES.SNS_ADD_TYPE_SINGLE, text: 'Only in my list'}));
    const send = el('button', {type: 'submit', className: 'primary', 'data-testid': 'add-send',
                               text: 'Send request'});
    const form = el('form', {className: 'add-form sub', 'data-testid': 'add-form', autocomplete: 'off'},
      wording, remark, group, type, send);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      send.disabled = true;
      const options = {to: userID, source: ADD_SOURCE, type: type.value};
      if (wording.value.trim()) options.wording = wording.value.trim();
      if (remark.value.trim()) options.remark = remark.value.trim();
      if (group.value) options.groupName = group.value;
      let outcome;
      try {
        const {data} = await chat.addFriend(options);
        outcome = addOutcome(data.code || 0, data.message, name);
        if (data.code === 30539) state.sentTo.add(userID);
      } catch (err) {
        outcome = addOutcome(err.code, err.message, name);
      } finally {
        send.disabled = false;
      }
      state.addOutcomes.set(userID, outcome);
      if (outcome.kind !== 'error') state.addForms.delete(userID);
      renderResults();
    });
    return form;
  }

  function addOutcome(code, message, name) {
    const tail = code ? ` (${code})` : '';
    switch (code) {
      case 0:
        return {code, kind: 'ok', text: `${name} is now in your contacts.`};
      case 30539:  // Tencent's "pending": the request was sent and waits for an answer
        return {code, kind: 'ok', text: `Friend request sent; waiting for ${name} to accept.`};
      case 30516:
        return {code, kind: 'error', text: `${name} does not accept friend requests${tail}.`};
      case 30515:
        return {code, kind: 'error', text: `${name} is in your blocklist; unblock them first${tail}.`};
      case 30525:
        return {code, kind: 'error', text: `${name} has blocked you${tail}.`};
      default:
        return {code, kind: 'error',
                text: `Could not add ${name}: ${message || 'error'}${tail}.`};
    }
  }

  async function search(query) {
    const status = $('search-status');
    setStatus(status, 'Searching…');
    let found;
    try {
      const {data} = await chat.searchUsers({keyword: query});
      found = data.userList;
    } catch (err) {
      if (err.code !== 910001) {
        setStatus(status, `Search failed: ${errorText(err)}`, 'error');
        return;
      }
      // A server without user search: an exact UserID still finds its user.
      try {
        found = (await chat.getUserProfile({userIDList: [query]})).data;
      } catch (err2) {
        setStatus(status, `Search failed: ${errorText(err2)}`, 'error');
        return;
      }
    }
    if ($('search-input').value.trim() !== query) return;  // a newer search is coming
    state.results = found.filter((p) => p && typeof p.userID === 'string');
    state.addForms.clear();
    state.addOutcomes.clear();
    setStatus(status, state.results.length
      ? `${state.results.length} found for “${query}”.` : `Nobody found for “${query}”.`);
    renderResults();
  }

  // --- wiring -------------------------------------------------------------------------

  ParleyUI.start((c, config) => {
    chat = c;
    state.me = config.userID;
    chat.on(EVENT.FRIEND_LIST_UPDATED, (event) => setFriends(event.data));
    chat.on(EVENT.FRIEND_GROUP_LIST_UPDATED, (event) => {
      state.groups = Array.isArray(event.data) ? event.data : [];
      renderGroups();
      renderFriends();
    });
    chat.on(EVENT.BLACKLIST_UPDATED, (event) => {
      state.blacklist = new Set(event.data || []);
      renderResults();
    });
    chat.on(EVENT.FRIEND_APPLICATION_LIST_UPDATED, (event) => {
      const list = (event.data && event.data.friendApplicationList) || [];
      state.sentTo = new Set(list.filter((a) => a.type === TYPES.SNS_APPLICATION_SENT_BY_ME)
        .map((a) => a.userID));
      renderResults();
    });
    chat.on(EVENT.PROFILE_UPDATED, (event) => {
      let changed = false;
      for (const p of event.data || []) {
        if (state.profiles.has(p.userID)) {
          state.profiles.set(p.userID, Object.assign({}, state.profiles.get(p.userID), p));
          changed = true;
        }
        if (state.results) {
          const i = state.results.findIndex((r) => r.userID === p.userID);
          if (i >= 0) {
            state.results[i] = Object.assign({}, state.results[i], p);
            changed = true;
          }
        }
      }
      if (changed) {
        renderFriends();
        renderResults();
      }
    });

    $('search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const query = $('search-input').value.trim();
      if (query) {
        search(query);
        return;
      }
      // A blank search clears the last one's results and their "N found for ..." line.
      state.results = null;
      renderResults();
      setStatus($('search-status'), '');
    });
    $('group-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const name = $('group-name').value.trim();
      if (!name) return;
      setStatus($('group-error'), '');
      chat.createFriendGroup({name}).then(() => {
        $('group-name').value = '';
      }, (err) => setStatus($('group-error'), `Could not create ${name}: ${errorText(err)}`, 'error'));
    });
    renderGroups();
    renderFriends();
  });
})();
