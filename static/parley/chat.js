/*
 * The chat page (templates/messaging/chat.html), built on the SDK in sdk.js.
 *
 * All user-provided text goes into the page through textContent, never innerHTML.
 */
(function () {
  'use strict';

  const EVENT = ParleyChat.EVENT;
  const config = JSON.parse(document.getElementById('parley-config').textContent);
  const chat = ParleyChat.create();
  window.parleyChat = chat;  // for the browser console
  ParleyUI.attachNav(chat, config);  // the friend-request badge and my nick in the top bar
  ParleyUI.watchSession(chat, () => { state.ended = true; });  // kicked: the signed-out card

  const $ = (id) => document.getElementById(id);
  const els = {
    banner: $('banner'),
    bannerText: $('banner-text'),
    bannerAction: $('banner-action'),
    netState: $('net-state'),
    totalBox: $('total-unread-box'),
    total: $('total-unread'),
    layout: $('chat-layout'),
    sidebar: $('sidebar'),
    newChat: $('new-chat'),
    newChatUser: $('new-chat-user'),
    picker: $('picker'),
    pickerStatus: $('picker-status'),
    pickerResults: $('picker-results'),
    convList: $('conversation-list'),
    convEmpty: $('conversation-empty'),
    placeholder: $('chat-placeholder'),
    view: $('chat-view'),
    title: $('chat-title'),
    back: $('chat-back'),
    avatar: $('chat-avatar'),
    pin: $('chat-pin'),
    del: $('chat-delete'),
    blocked: $('chat-blocked'),
    blockedText: $('chat-blocked-text'),
    unblock: $('chat-unblock'),
    confirm: $('chat-confirm'),
    confirmYes: $('chat-confirm-yes'),
    confirmNo: $('chat-confirm-no'),
    peerID: $('chat-peer-id'),
    peerStatus: $('chat-peer-status'),
    typing: $('chat-typing'),
    scroll: $('message-scroll'),
    loadOlder: $('load-older'),
    historyStatus: $('history-status'),
    messageList: $('message-list'),
    jumpNew: $('jump-new'),
    composer: $('composer'),
    input: $('message-input'),
    sendButton: $('send-button'),
    sendError: $('send-error'),
  };

  const state = {
    conversations: [],  // as the SDK last listed them, newest first
    current: null,      // the open conversation, see openConversation
    everReady: false,
    ended: false,       // kicked out or refused: no more reconnecting
    drafts: new Map(),  // conversationID -> draft typed here, until the server has it
    profiles: new Map(),  // userID -> profile seen in the picker (for chats not listed yet)
    friends: null,      // my friends, from FRIEND_LIST_UPDATED (the picker lists them first)
    blocked: new Set(),  // the UserIDs I have blocked, from BLACKLIST_UPDATED
  };

  // --- small helpers ------------------------------------------------------------------

  const el = ParleyUI.el;  // one element builder for every page (ui.js)

  function peerOf(conversationID) {
    return conversationID.slice(3);
  }

  function findConversation(conversationID) {
    return state.conversations.find((c) => c.conversationID === conversationID) || null;
  }

  function peerProfile(conversationID) {
    const conv = findConversation(conversationID);
    return (conv && conv.userProfile) || state.profiles.get(peerOf(conversationID)) || {};
  }

  function peerName(conversationID) {
    return peerProfile(conversationID).nick || peerOf(conversationID);
  }

  const elementText = ParleyRender.elementText;  // every type's one-line text (render.js)

  /** [label, text] of a conversation's last message; the text is drawn in its own
   *  direction (dir=auto), so Arabic or Hebrew reads right to left after "You:". */
  function messagePreview(m) {
    if (!m) return ['', ''];
    if (m.isRevoked) return ['[Message recalled]', ''];
    const text = (m.elements || []).map(elementText).join(' ');
    if (m.isSystemMessage) return ['Notice: ', text];
    return [m.flow === 'out' ? 'You: ' : '', text];
  }

  function ownDirection(text) {
    return el('span', {dir: 'auto', text});
  }

  function formatTime(seconds, withDate) {
    if (!seconds) return '';
    const d = new Date(seconds * 1000);
    const time = d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
    if (!withDate || d.toDateString() === new Date().toDateString()) return time;
    return `${d.toLocaleDateString([], {month: 'short', day: 'numeric'})} ${time}`;
  }

  const errorText = ParleyUI.errorText;  // words a person can act on, the code in brackets

  function pageVisible() {
    return document.visibilityState !== 'hidden';
  }

  // --- banner, connection state, total unread -----------------------------------------

  function showBanner(text, {error = false, reload = false} = {}) {
    els.bannerText.textContent = text;
    els.banner.classList.toggle('is-error', error);
    els.bannerAction.hidden = !reload;
    els.banner.hidden = false;
  }

  function hideBanner() {
    els.banner.hidden = true;
  }

  function setNetState(name, label) {
    els.netState.dataset.state = name;
    els.netState.textContent = label;
  }

  function setTotalUnread(n) {
    const count = Number.isInteger(n) && n > 0 ? n : 0;
    els.total.textContent = String(count);
    els.totalBox.classList.toggle('is-zero', count === 0);
    document.title = `${count ? `(${count}) ` : ''}Chat · Parley`;
  }

  els.bannerAction.addEventListener('click', () => window.location.reload());

  // --- conversation list --------------------------------------------------------------

  // Receive options other than AcceptAndNotify, as the list's "Muted" mark explains them.
  const MUTED = {
    AcceptNotNotify: 'Muted: messages arrive without notifications',
    Discard: 'Muted: messages are kept in the history only, without notifications',
  };

  function renderConversations() {
    const current = state.current && state.current.conversationID;
    const items = state.conversations.map((conv) => {
      const id = conv.conversationID;
      const profile = conv.userProfile || {};
      const userID = profile.userID || peerOf(id);
      const unread = conv.unreadCount || 0;
      const name = el('span', {className: 'conv-name', 'data-testid': 'conversation-name'},
        profile.nick || userID);
      if (profile.nick && profile.nick !== userID) {
        name.append(' ', el('span', {className: 'muted', text: userID}));
      }
      const draft = id === current ? '' : draftOf(conv);
      const [label, text] = messagePreview(conv.lastMessage);
      const preview = draft
        ? el('span', {className: 'conv-preview', 'data-testid': 'conversation-preview'},
          el('span', {className: 'conv-draft', text: 'Draft:'}), ' ', ownDirection(draft))
        : el('span', {className: 'conv-preview', 'data-testid': 'conversation-preview'},
          label, text ? ownDirection(text) : null);
      const time = el('span', {className: 'conv-time',
                               text: formatTime(conv.lastMessage && conv.lastMessage.time, true)});
      if (conv.isPinned) {
        time.prepend(el('span', {className: 'conv-pin', 'data-testid': 'conversation-pinned',
                                 title: 'Pinned', text: 'Pinned'}));
      }
      const muted = MUTED[conv.messageRemindType];
      if (muted) {
        time.prepend(el('span', {className: 'conv-muted', 'data-testid': 'conversation-muted',
                                 title: muted, 'aria-label': muted, text: 'Muted'}));
      }
      const button = el('button', {type: 'button', className: 'conv'},
        ParleyUI.avatar(profile.avatar, profile.nick || userID),
        name, time, preview,
        el('span', {className: 'badge', 'data-testid': 'unread-badge', hidden: unread === 0,
                    text: String(unread)}));
      button.addEventListener('click', () => openConversation(id));
      return el('li', {
        className: `${id === current ? 'active' : ''}${conv.isPinned ? ' is-pinned' : ''}`,
        'data-testid': 'conversation',
        'data-conversation-id': id,
        'data-unread': unread,
        'data-pinned': conv.isPinned ? '1' : '0',
      }, button);
    });
    els.convList.replaceChildren(...items);
    els.convEmpty.hidden = items.length > 0;
  }

  function setConversations(list) {
    const open = state.current;
    const before = open && findConversation(open.conversationID);
    const draftBefore = before ? (before.draftText || '') : null;
    state.conversations = list;
    const now = open && findConversation(open.conversationID);
    if (before && now && draftBefore && !now.draftText
        && !state.drafts.has(open.conversationID) && els.input.value === draftBefore) {
      // The draft was sent (or cleared) on another device while this box still held
      // it: the box empties too, so the text cannot go twice. A draft rewritten there
      // does not replace what this box holds.
      els.input.value = '';
      showLength();
    }
    if (before && !now) {
      // Deleted elsewhere (another device, an operator): its history went with it, so
      // the chat closes rather than showing what is no longer there (a draft typed
      // meanwhile stays in the tab).
      closeConversation();
      return;
    }
    if (before && before.lastMessage && now && now.lastMessage === null) {
      // Its history was cleared elsewhere (clearHistoryMessage on another device): the
      // stored messages on screen go; one still being sent from here stays.
      for (const m of open.messages.slice()) {
        if (m.status !== 'unSend' && m.status !== 'fail') removeMessage(open, m.ID, m);
      }
      open.nextReqMessageID = '';
      open.isCompleted = true;
      els.loadOlder.hidden = true;
    }
    renderConversations();
    const cur = state.current;
    if (cur) {
      showHeader(cur);
      const conv = findConversation(cur.conversationID);
      markRead(cur);  // or says how many wait below
    }
  }

  /** The open chat's header: name, avatar, pin state (pin and delete need a listed chat). */
  function showHeader(cur) {
    const profile = peerProfile(cur.conversationID);
    const name = peerName(cur.conversationID);
    els.title.textContent = name;
    els.title.title = name;
    const src = profile.avatar || '';
    if (els.avatar.dataset.src !== src || els.avatar.dataset.name !== name) {
      els.avatar.dataset.src = src;
      els.avatar.dataset.name = name;
      els.avatar.replaceChildren(ParleyUI.avatar(src, name));
    }
    const conv = findConversation(cur.conversationID);
    const pinned = !!(conv && conv.isPinned);
    els.pin.setAttribute('aria-pressed', String(pinned));
    els.pin.textContent = pinned ? 'Unpin' : 'Pin';
    els.pin.title = pinned ? 'Unpin this chat' : 'Pin to the top';
    els.pin.disabled = !conv;
    showBlocked(cur);
  }

  /** Under the header while I have blocked the peer: says so, with a way back. */
  function showBlocked(cur) {
    const on = state.blocked.has(cur.peerID);
    if (on) els.blockedText.textContent =
      `You blocked ${peerName(cur.conversationID)}: their messages do not reach you.`;
    els.blocked.hidden = !on;
    if (!on) els.unblock.disabled = false;
  }

  els.unblock.addEventListener('click', async () => {
    const cur = state.current;
    if (!cur) return;
    els.unblock.disabled = true;
    try {
      await chat.removeFromBlacklist({userIDList: [cur.peerID]});
      // BLACKLIST_UPDATED follows on every device; this one need not wait for it.
      state.blocked.delete(cur.peerID);
    } catch (err) {
      showBanner(`Could not unblock: ${errorText(err)}`, {error: true});
    } finally {
      els.unblock.disabled = false;
      if (state.current === cur) showBlocked(cur);
      if (els.blocked.hidden) els.input.focus();  // the focused button went with the bar
    }
  });

  // --- drafts: kept per conversation, on the server for my other devices --------------

  function draftOf(conv) {
    const id = conv.conversationID;
    return state.drafts.has(id) ? state.drafts.get(id) : (conv.draftText || '');
  }

  let draftTimer = null;

  /** Keep what is typed in the open chat as its draft (sent to the server in a moment). */
  function noteDraft() {
    const cur = state.current;
    if (!cur) return;
    state.drafts.set(cur.conversationID, els.input.value);
    clearTimeout(draftTimer);
    draftTimer = setTimeout(() => saveDraft(cur.conversationID), 800);
  }

  function saveDraft(conversationID) {
    clearTimeout(draftTimer);
    if (!state.drafts.has(conversationID)) return;
    const text = state.drafts.get(conversationID);
    const conv = findConversation(conversationID);
    if (!conv) return;  // a chat with no message yet: the server has no conversation
    // The server refuses one over 12 KB too: kept in this tab, and the composer's line
    // already says the text is too long (showLength), so no second refusal here.
    if (tooLong(text)) return;
    if ((conv.draftText || '') === text) {
      state.drafts.delete(conversationID);
      return;
    }
    chat.setConversationDraft({conversationID, draftText: text}).then(() => {
      // The server's CONVERSATION_LIST_UPDATED brings it back as conv.draftText.
      if (state.drafts.get(conversationID) === text) {
        const fresh = findConversation(conversationID);
        if (fresh) fresh.draftText = text;
        state.drafts.delete(conversationID);
      }
    }, (err) => {
      // Kept in this tab (state.drafts), not on the server: say so, with why.
      showBanner(`The draft was not saved for your other devices: ${ParleyUI.errorWords(err)}`,
                 {error: true});
    });
  }

  // --- the open conversation ----------------------------------------------------------

  /** A message item; its content comes from render.js, its actions from compose.js. */
  function renderMessage(m) {
    // A system notice is the operators' word, not a person's: a centred notice.
    if (m.isSystemMessage) return ParleyRender.notice(m, {chat}, formatTime(m.time, false));
    const out = m.flow === 'out';
    const bubble = el('div', {className: 'msg-bubble'}, ParleyRender.content(m, {chat}));
    const meta = el('div', {className: 'msg-meta'},
      el('time', {text: formatTime(m.time, false)}));  // the day separators say the date
    if (m.isModified && !m.isRevoked) {
      meta.append(el('span', {className: 'msg-edited', 'data-testid': 'msg-edited', text: 'edited'}));
    }
    if (m.status === 'unSend') meta.append(el('span', {text: 'Sending…'}));
    if (out && m.isPeerRead) meta.append(el('span', {text: 'Read'}));
    const item = el('li', {
      className: `msg ${out ? 'msg-out' : 'msg-in'}`,
      'data-testid': 'message',
      'data-message-id': m.ID,
      'data-flow': m.flow,
      'data-status': m.status || 'success',
      'data-type': m.type || '',
      title: out ? '' : (m.nick || m.from),
    }, bubble, meta);
    tools.decorate(m, item, meta);
    const row = reactions.row(m);
    if (row) item.append(row);
    return item;
  }

  function nearBottom() {
    const s = els.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  // Pictures, players and cards take their size after they are drawn, and the list's
  // box changes with the composer or the window: a chat scrolled to its newest message
  // would be left short of it. While "pinned" (scrolled to the bottom, and not scrolled
  // up by the person since), any change of size scrolls it to the bottom again.
  const pin = {on: false, top: 0};

  function scrollToBottom() {
    els.scroll.scrollTop = els.scroll.scrollHeight;
    pin.on = true;
    pin.top = els.scroll.scrollTop;
  }

  /** On each scroll: at the bottom pins; moving up (the person's doing) unpins. Content
   *  that grew below leaves scrollTop as it was, so it neither pins nor unpins. */
  function notePin() {
    const s = els.scroll;
    if (s.scrollHeight - s.scrollTop - s.clientHeight < 2) pin.on = true;
    else if (s.scrollTop < pin.top) pin.on = false;
    pin.top = s.scrollTop;
  }

  const keepPinned = new ResizeObserver(() => {
    if (pin.on && state.current) scrollToBottom();
  });
  keepPinned.observe(els.messageList);
  keepPinned.observe(els.scroll);

  /** Put a message in its place: stored ones by seq, unsent ones at the end. */
  function insertMessage(cur, m) {
    if (cur.nodes.has(m.ID)) {
      const old = cur.nodes.get(m.ID);
      const index = cur.messages.findIndex((x) => x.ID === m.ID);
      if (index >= 0) cur.messages[index] = m;
      const fresh = renderMessage(m);
      keepEdit(old, fresh, m);
      cur.nodes.set(m.ID, fresh);
      return;
    }
    if (m.flow === 'out' && m.seq) {
      // Our own message, stored, that we still show as unsent (e.g. replayed after a
      // reconnect before the send's answer): the stored one takes its place.
      const unsent = cur.messages.find((x) => !x.seq && x.random === m.random && x !== m);
      if (unsent) removeMessage(cur, unsent.ID, unsent);
    }
    let index = cur.messages.length;
    if (m.seq) {
      index = cur.messages.findIndex((x) => !x.seq || x.seq > m.seq);
      if (index < 0) index = cur.messages.length;
    }
    const before = cur.messages[index];
    cur.messages.splice(index, 0, m);
    const node = renderMessage(m);
    els.messageList.insertBefore(node, before ? cur.nodes.get(before.ID) : null);
    cur.nodes.set(m.ID, node);
    els.historyStatus.hidden = true;
    markDays(cur);
  }

  /** Draw a message again (read by the peer, changed elsewhere) without losing an edit
   *  open on it: the form and what is typed in it move to the new drawing. Saving an
   *  edit of a version changed meanwhile is refused there (20028), in words. */
  function keepEdit(old, fresh, m) {
    const form = old.querySelector('.msg-edit');
    const bubble = fresh.querySelector('.msg-bubble');
    if (!form || !bubble || m.isRevoked) {
      keepFocus(old, fresh);
      return;
    }
    const area = form.querySelector('textarea');
    const focused = area && document.activeElement === area;
    const [start, end] = area ? [area.selectionStart, area.selectionEnd] : [0, 0];
    old.replaceWith(fresh);
    bubble.hidden = true;
    bubble.after(form);
    if (focused) {
      area.focus();
      area.setSelectionRange(start, end);
    }
  }

  /** Replace a message's drawing; a keyboard focus inside it goes to the same control
   *  (by its data-testid, and its reaction ID for a chip) in the new one, when there. */
  function keepFocus(old, fresh) {
    const focused = old.contains(document.activeElement) ? document.activeElement : null;
    old.replaceWith(fresh);
    const testid = focused && focused.dataset.testid;
    if (!testid) return;
    const reaction = focused.dataset.reactionId;
    const same = Array.from(fresh.querySelectorAll(`[data-testid="${testid}"]`))
      .find((node) => !reaction || node.dataset.reactionId === reaction);
    if (same) same.focus();
  }

  /** A "Today" / "Yesterday" / date separator before the first message of each day. */
  function markDays(cur) {
    let last = '';
    const keep = new Set();
    for (const m of cur.messages) {
      const node = cur.nodes.get(m.ID);
      if (!node || !m.time) continue;
      const key = new Date(m.time * 1000).toDateString();
      if (key === last) continue;
      last = key;
      let sep = node.previousElementSibling;
      if (!sep || !sep.classList.contains('day-separator') || sep.dataset.day !== key) {
        sep = el('li', {className: 'day-separator', 'data-testid': 'day-separator',
                        'data-day': key, role: 'separator', text: ParleyUI.dayLabel(m.time)});
        node.before(sep);
      }
      keep.add(sep);
    }
    for (const sep of els.messageList.querySelectorAll('.day-separator')) {
      if (!keep.has(sep)) sep.remove();
    }
  }

  function removeMessage(cur, key, message) {
    const node = cur.nodes.get(key);
    if (node) node.remove();
    cur.nodes.delete(key);
    const index = cur.messages.indexOf(message);
    if (index >= 0) cur.messages.splice(index, 1);
    markDays(cur);
  }

  // --- the peer's online status and typing -------------------------------------------

  const STATUS_TEXT = {1: 'online', 2: 'offline', 3: 'never signed in'};
  let watchedPeer = null;
  let typingTimer = null;
  let typingSentAt = 0;

  function showPeerStatus(statusType) {
    els.peerStatus.textContent = STATUS_TEXT[statusType] || '';
    els.peerStatus.dataset.status = String(statusType || 0);
  }

  async function watchPeerStatus(peerID) {
    if (watchedPeer && watchedPeer !== peerID) {
      chat.unsubscribeUserStatus({userIDList: [watchedPeer]}).catch(() => {});
    }
    watchedPeer = peerID;
    showPeerStatus(0);
    try {
      await chat.subscribeUserStatus({userIDList: [peerID]});
      const {data} = await chat.getUserStatus({userIDList: [peerID]});
      const mine = (data.successUserList || []).find((u) => u.userID === peerID);
      if (watchedPeer === peerID && mine) showPeerStatus(mine.statusType);
    } catch (err) {
      console.warn('status of', peerID, err);
    }
  }

  function showTyping(on) {
    clearTimeout(typingTimer);
    els.typing.hidden = !on;
    if (on) typingTimer = setTimeout(() => { els.typing.hidden = true; }, 6000);
  }

  function noteTyping() {
    // At most one TYPING every 3 s while keys are pressed.
    const cur = state.current;
    if (!cur || Date.now() - typingSentAt < 3000) return;
    typingSentAt = Date.now();
    chat.sendTyping({to: cur.peerID}).catch(() => {});
  }

  // --- panes: on a phone one at a time, the list or the open chat ---------------------

  const narrow = window.matchMedia('(max-width: 700px)');

  // The full hint wraps past the text box of a 360 px phone, whose keyboard has no
  // Shift+Enter anyway: a short one on a phone.
  const PLACEHOLDER = els.input.placeholder;

  function fitPlaceholder() {
    els.input.placeholder = narrow.matches ? 'Write a message' : PLACEHOLDER;
  }

  narrow.addEventListener('change', fitPlaceholder);
  fitPlaceholder();

  function setPane(name) {
    els.layout.dataset.pane = name;
  }

  async function openConversation(conversationID, {force = false, fromHistory = false} = {}) {
    if (!/^C2C./.test(conversationID)) return;
    if (!force && state.current && state.current.conversationID === conversationID) {
      setPane('chat');
      markRead(state.current);
      return;
    }
    if (state.current) saveDraft(state.current.conversationID);
    const cur = {
      conversationID,
      peerID: peerOf(conversationID),
      messages: [],
      nodes: new Map(),
      nextReqMessageID: '',
      isCompleted: true,
      loading: false,
      marking: false,
    };
    const wasList = els.layout.dataset.pane !== 'chat' || !state.current;
    state.current = cur;
    if (!fromHistory) {
      // On a phone, the browser's back button goes back to the list.
      const url = `#${encodeURIComponent(conversationID)}`;
      if (narrow.matches && wasList) history.pushState({chat: conversationID}, '', url);
      else history.replaceState({chat: conversationID}, '', url);
    }
    setPane('chat');
    hideConfirm();
    els.placeholder.hidden = true;
    els.view.hidden = false;
    showHeader(cur);
    els.peerID.textContent = `UserID: ${cur.peerID}`;
    if (!findConversation(conversationID) && !state.profiles.has(cur.peerID)) {
      learnProfile(cur);
    }
    showTyping(false);
    watchPeerStatus(cur.peerID);
    els.messageList.replaceChildren();
    reactions.reset();
    els.loadOlder.hidden = true;
    showJump(0);
    hideSendError();
    tools.setSelecting(false);
    const conv = findConversation(conversationID);
    els.input.value = state.drafts.has(conversationID) ? state.drafts.get(conversationID)
      : ((conv && conv.draftText) || '');
    showLength();  // a draft kept here because it was too long to save
    els.historyStatus.textContent = 'Loading…';
    els.historyStatus.hidden = false;
    renderConversations();
    if (!narrow.matches) els.input.focus();
    await loadHistory(cur, {older: false});
    markRead(cur);
  }

  /** Back to the list (the phone's back button): the chat is closed, its draft kept. */
  function closeConversation({fromHistory = false} = {}) {
    const cur = state.current;
    if (cur) saveDraft(cur.conversationID);
    state.current = null;
    showTyping(false);
    hideConfirm();
    els.view.hidden = true;
    els.placeholder.hidden = false;
    els.messageList.replaceChildren();
    setPane('list');
    if (!fromHistory) history.replaceState(null, '', window.location.pathname);
    renderConversations();
  }

  /** The name and avatar of someone with no conversation yet, for the header. */
  async function learnProfile(cur) {
    try {
      const {data} = await chat.getUserProfile({userIDList: [cur.peerID]});
      const profile = (data || []).find((p) => p.userID === cur.peerID);
      if (!profile) return;
      state.profiles.set(cur.peerID, profile);
      if (state.current === cur) showHeader(cur);
    } catch (err) {
      console.warn('getUserProfile failed', err);
    }
  }

  async function loadHistory(cur, {older}) {
    if (cur.loading) return;
    cur.loading = true;
    els.loadOlder.disabled = true;
    try {
      const options = {conversationID: cur.conversationID};
      if (older) options.nextReqMessageID = cur.nextReqMessageID;
      const {data} = await chat.getMessageList(options);
      if (state.current !== cur) return;
      // Older messages go on top; the ones on screen stay where they are.
      const height = els.scroll.scrollHeight;
      const top = els.scroll.scrollTop;
      for (const m of data.messageList) insertMessage(cur, m);
      reactions.load(data.messageList);
      cur.nextReqMessageID = data.nextReqMessageID;
      cur.isCompleted = data.isCompleted || !data.nextReqMessageID;
      els.loadOlder.hidden = cur.isCompleted;
      if (older) {
        els.scroll.scrollTop = top + (els.scroll.scrollHeight - height);
      } else {
        scrollToBottom();
      }
      if (!cur.messages.length) {
        els.historyStatus.textContent = 'No messages yet. Say hello!';
        els.historyStatus.hidden = false;
      }
    } catch (err) {
      if (state.current !== cur) return;
      els.historyStatus.textContent = `Could not load the history: ${errorText(err)}`;
      els.historyStatus.hidden = false;
    } finally {
      cur.loading = false;
      els.loadOlder.disabled = false;
    }
    // Not enough to scroll yet (or already at the top): the next page at once.
    if (state.current === cur && !cur.isCompleted && els.scroll.scrollTop < OLDER_MARGIN) {
      loadHistory(cur, {older: true});
    }
  }

  // Scrolling within this many pixels of the top loads the next older page.
  const OLDER_MARGIN = 150;

  function onScroll() {
    notePin();
    const cur = state.current;
    if (cur && !els.jumpNew.hidden && nearBottom()) markRead(cur);
    if (cur && !cur.isCompleted && !cur.loading && els.scroll.scrollTop < OLDER_MARGIN) {
      loadHistory(cur, {older: true});
    }
  }

  // After a reconnect the server replays at most the newest 100 messages of each peer
  // (the offline cache's cut; the rest stays in history). The open chat reads history
  // from the newest back to the last message it held when the connection dropped, so
  // what the cut left out is not missing from between the old and the new messages.
  // Past REFILL_MAX_PAGES pages (a long time offline with a busy peer) the gap is not
  // read and drawn whole: the chat opens again at its newest page, "Load older" from
  // there, as a chat opened afresh.
  const REFILL_PAGE = 100;
  const REFILL_MAX_PAGES = 5;

  function newestSeq(cur) {
    return cur.messages.reduce((top, m) => (m.seq && m.seq > top ? m.seq : top), 0);
  }

  async function refill(cur) {
    const held = cur.heldSeq;
    let next = '';
    for (let pages = 1; ; pages += 1) {
      const options = {conversationID: cur.conversationID, count: REFILL_PAGE};
      if (next) options.nextReqMessageID = next;
      let data;
      try {
        ({data} = await chat.getMessageList(options));
      } catch (err) {
        console.warn('getMessageList after a reconnect failed', err);
        return;
      }
      if (state.current !== cur) return;
      const wasAtBottom = nearBottom();
      const fresh = data.messageList.filter((m) => !cur.nodes.has(m.ID));
      for (const m of fresh) insertMessage(cur, m);
      reactions.load(fresh);
      if (wasAtBottom) scrollToBottom();
      const done = data.isCompleted || !data.nextReqMessageID;
      if (!held) {  // it held nothing (its history had not loaded): a first page
        cur.nextReqMessageID = data.nextReqMessageID;
        cur.isCompleted = done;
        els.loadOlder.hidden = done;
        return;
      }
      if (done || data.messageList.some((m) => m.seq && m.seq <= held)) return;
      if (pages >= REFILL_MAX_PAGES) {
        openConversation(cur.conversationID, {force: true, fromHistory: true});
        return;
      }
      next = data.nextReqMessageID;
    }
  }

  /** Mark the open conversation read when it has unread messages the person can see:
   *  the page visible and the list scrolled to its newest. Scrolled up (reading back),
   *  they stay unread and the "N new messages" button says so; reaching the bottom
   *  (onScroll, or that button) reads them. */
  function markRead(cur) {
    if (state.current !== cur) return;
    const conv = findConversation(cur.conversationID);
    const unread = (conv && conv.unreadCount) || 0;
    const unseen = unread > 0 && !nearBottom();
    showJump(unseen ? unread : 0);
    if (!unread || unseen || !pageVisible() || cur.marking) return;
    cur.marking = true;
    chat.setMessageRead({conversationID: cur.conversationID})
      .catch((err) => console.warn('setMessageRead failed', err))
      .finally(() => { cur.marking = false; });
  }

  function showJump(count) {
    els.jumpNew.hidden = count === 0;
    if (count) els.jumpNew.textContent = `${count} new message${count === 1 ? '' : 's'}`;
  }

  els.jumpNew.addEventListener('click', () => {
    scrollToBottom();
    if (state.current) markRead(state.current);
  });

  // --- sending ------------------------------------------------------------------------

  // The server refuses a message whose elements, as compact UTF-8 JSON, are over
  // CHAT_MAX_CONTENT_BYTES (93000, messaging/elements.py): a text that long is refused
  // here, once, in the send's words, and stays in the box.
  const MAX_CONTENT_BYTES = Number(config.maxContentBytes) || 12288;
  const utf8 = new TextEncoder();

  function textBytes(text) {
    return utf8.encode(JSON.stringify([{type: 'TIMTextElem', payload: {text}}])).length;
  }

  function tooLong(text) {
    return textBytes(text) > MAX_CONTENT_BYTES;
  }

  function lengthError(text) {
    return {code: 93000, message: `the message is ${textBytes(text)} bytes; at most `
                                  + `${MAX_CONTENT_BYTES} are allowed`};
  }

  /** While the typed text is too long to send, the composer's line says so. */
  function showLength() {
    const text = els.input.value.replace(/\s+$/, '');
    const over = tooLong(text);
    if (over) {
      const why = ParleyWords.explain(lengthError(text));
      els.sendError.textContent = why.text;
      els.sendError.title = why.detail;
      els.sendError.dataset.reason = 'length';
      els.sendError.hidden = false;
    } else if (els.sendError.dataset.reason === 'length') {
      hideSendError();
    }
  }

  function showSendError(err, peer) {
    const why = ParleyWords.explain(err, peer || (state.current && peerName(state.current.conversationID)));
    els.sendError.textContent = `Could not send: ${why.text}`;
    els.sendError.title = why.detail;  // the code, for a bug report
    delete els.sendError.dataset.reason;
    els.sendError.hidden = false;
  }

  function hideSendError() {
    els.sendError.hidden = true;
    els.sendError.textContent = '';
    els.sendError.title = '';
    delete els.sendError.dataset.reason;
  }

  function sendText() {
    const cur = state.current;
    if (!cur) return;
    const text = els.input.value.replace(/\s+$/, '');
    if (!text.trim()) return;
    hideSendError();
    if (tooLong(text)) {  // the server would refuse it (93000): said once, text kept
      showSendError(lengthError(text));
      els.sendError.dataset.reason = 'length';  // goes once the text is short enough
      return;
    }
    let message;
    try {
      message = chat.createTextMessage({to: cur.peerID, conversationType: 'C2C', payload: {text}});
    } catch (err) {
      showSendError(err);
      return;
    }
    tools.rememberDraft(message, els.input.value);
    els.input.value = '';
    noteDraft();  // sent: the draft is cleared
    insertMessage(cur, message);
    scrollToBottom();
    deliver(message, cur);
  }

  /** Send (or resend: same message, same random) and show the outcome in place. */
  async function deliver(message, cur) {
    if (!cur) return;
    const key = message.ID;  // a local ID until the server stores it
    if (message.status === 'fail') {
      message.status = 'unSend';
      insertMessage(cur, message);
      hideSendError();
    }
    try {
      await chat.sendMessage(message);
      tools.sendEnded(message, null);
    } catch (err) {
      if (tools.sendEnded(message, err)) {  // an upload the person cancelled
        if (state.current === cur) removeMessage(cur, key, message);
        return;
      }
      if (state.current === cur) showSendError(err);
    }
    if (state.current !== cur) return;
    const wasAtBottom = nearBottom();
    removeMessage(cur, key, message);
    insertMessage(cur, message);
    if (wasAtBottom) scrollToBottom();
  }

  // The reactions under each message (reactions.js).
  const reactions = ParleyReactions.attach({
    chat,
    showError: (err) => {
      showSendError(err);
      els.sendError.textContent = `Could not react: ${errorText(err)}`;
    },
  });

  const tools = ParleyCompose.attach({
    chat,
    config,
    current: () => state.current,
    conversations: () => state.conversations,
    insert: insertMessage,
    remove: removeMessage,
    deliver,
    scrollToBottom,
    nodeOf: (m) => (state.current && state.current.nodes.get(m.ID)) || null,
    showError: showSendError,
    // A send from the tools starts: a refusal shown for an earlier one goes (the text's
    // "too long" stays while the text is).
    clearError: () => { if (els.sendError.dataset.reason !== 'length') hideSendError(); },
    peerName,
  });

  els.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendText();
  });
  els.input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendText();
    }
  });
  els.input.addEventListener('input', () => { if (els.input.value) noteTyping(); });
  els.loadOlder.addEventListener('click', () => {
    if (state.current && state.current.nextReqMessageID) {
      loadHistory(state.current, {older: true});
    }
  });
  els.scroll.addEventListener('scroll', onScroll, {passive: true});
  els.input.addEventListener('input', noteDraft);
  els.input.addEventListener('input', showLength);
  els.back.addEventListener('click', () => {
    if (history.state && history.state.chat) history.back();  // popstate closes it
    else closeConversation();
  });
  // The back button, and a conversation named in the address later (a notification's
  // click, notify.js, sets the hash: that fires popstate too).
  window.addEventListener('popstate', () => {
    const wanted = decodeURIComponent(window.location.hash.slice(1));
    if (/^C2C./.test(wanted)) openConversation(wanted, {fromHistory: true});
    else if (state.current) closeConversation({fromHistory: true});
  });
  window.addEventListener('pagehide', () => {
    if (state.current) saveDraft(state.current.conversationID);
  });

  // --- pin and delete (the chat header) ----------------------------------------------

  els.pin.addEventListener('click', async () => {
    const cur = state.current;
    const conv = cur && findConversation(cur.conversationID);
    if (!conv) return;
    els.pin.disabled = true;
    try {
      await chat.pinConversation({conversationID: conv.conversationID, isPinned: !conv.isPinned});
    } catch (err) {
      showBanner(`Could not ${conv.isPinned ? 'unpin' : 'pin'} this chat: ${errorText(err)}`,
        {error: true});
    } finally {
      if (state.current === cur) showHeader(cur);
    }
  });

  function hideConfirm() {
    els.confirm.hidden = true;
  }

  els.del.addEventListener('click', () => {
    els.confirm.hidden = false;
    els.confirmNo.focus();
  });
  els.confirmNo.addEventListener('click', hideConfirm);
  els.confirmYes.addEventListener('click', async () => {
    const cur = state.current;
    if (!cur) return;
    const id = cur.conversationID;
    hideConfirm();
    state.drafts.delete(id);
    if (findConversation(id)) {
      try {
        await chat.deleteConversation({conversationIDList: [id], clearHistoryMessage: true});
      } catch (err) {
        showBanner(`Could not delete this chat: ${errorText(err)}`, {error: true});
        return;
      }
    }
    if (state.current === cur) closeConversation();
  });
  document.addEventListener('visibilitychange', () => {
    if (pageVisible() && state.current) markRead(state.current);
  });

  // --- the contact picker: friends first, then anyone the server finds ----------------
  // Friends match by UserID, nick or remark (any part, any case), here in the page; others
  // come from searchUsers (UserID prefix or nick part, any case; 20 at most), from two
  // characters on. Enter opens the highlighted person, or else the UserID as typed.

  const SEARCH_MIN = 2;
  const picker = {seq: 0, results: [], query: '', active: -1, timer: null};

  function friendMatches(friend, q) {
    const p = friend.profile || {};
    return [friend.userID, p.nick, friend.remark].some(
      (v) => typeof v === 'string' && v.toLowerCase().includes(q));
  }

  async function runPicker() {
    const raw = els.newChatUser.value.trim();
    const q = raw.toLowerCase();
    const seq = ++picker.seq;
    let friends = state.friends;  // as FRIEND_LIST_UPDATED last handed it out
    if (!friends) {
      try {
        friends = (await chat.getFriendList()).data;
      } catch (err) {
        console.warn('getFriendList failed', err);
        friends = [];
      }
    }
    if (seq !== picker.seq) return;
    const mine = friends.filter((f) => !q || friendMatches(f, q)).slice(0, 50).map((f) => ({
      userID: f.userID,
      nick: (f.profile && f.profile.nick) || '',
      avatar: (f.profile && f.profile.avatar) || '',
      remark: f.remark || '',
      friend: true,
    }));
    picker.query = raw;
    showPicker(mine, raw.length >= SEARCH_MIN ? 'Searching…'
      : (mine.length ? '' : 'Type a nick or UserID to find someone.'));
    if (raw.length < SEARCH_MIN) return;
    try {
      const {data} = await chat.searchUsers({keyword: raw, count: 20});
      if (seq !== picker.seq) return;
      const known = new Set(mine.map((p) => p.userID).concat([config.userID]));
      const others = data.userList.filter((u) => !known.has(u.userID)).map((u) => ({
        userID: u.userID, nick: u.nick || '', avatar: u.avatar || '', remark: '', friend: false,
      }));
      const all = mine.concat(others);
      showPicker(all, all.length ? '' : `No one found for “${raw}”.`);
    } catch (err) {
      if (seq !== picker.seq) return;
      showPicker(mine, `Search failed: ${errorText(err)}`);
    }
  }

  function showPicker(people, status) {
    picker.results = people;
    picker.active = people.length ? 0 : -1;
    els.pickerStatus.textContent = status || '';
    els.pickerResults.replaceChildren(...people.map((person, i) => {
      const name = person.remark || person.nick || person.userID;
      const button = el('button', {type: 'button', className: 'pick', tabindex: '-1',
                                   'data-testid': 'picker-result', 'data-user-id': person.userID},
        ParleyUI.avatar(person.avatar, name),
        el('span', {className: 'pick-body'},
          el('span', {className: 'pick-name', text: name}),
          el('span', {className: 'pick-id muted', text: person.userID})),
        person.friend ? el('span', {className: 'tag', text: 'Friend'}) : null);
      button.addEventListener('mousedown', (ev) => ev.preventDefault());  // keep the focus
      button.addEventListener('click', () => pick(person));
      return el('li', {id: `pick-${i}`, role: 'option'}, button);
    }));
    highlight();
    els.picker.hidden = false;
    els.sidebar.classList.add('is-picking');  // the picker takes the conversations' place
  }

  function highlight() {
    els.pickerResults.querySelectorAll('.pick').forEach((node, i) => {
      node.classList.toggle('is-active', i === picker.active);
      node.setAttribute('aria-selected', String(i === picker.active));
    });
    els.newChatUser.setAttribute('aria-activedescendant',
      picker.active >= 0 ? `pick-${picker.active}` : '');
  }

  function closePicker() {
    picker.seq++;
    picker.query = '';
    clearTimeout(picker.timer);
    els.picker.hidden = true;
    els.sidebar.classList.remove('is-picking');
    els.pickerResults.replaceChildren();
    picker.results = [];
  }

  function pick(person) {
    state.profiles.set(person.userID, {userID: person.userID, nick: person.nick,
                                       avatar: person.avatar});
    els.newChatUser.value = '';
    closePicker();
    els.newChatUser.blur();
    openConversation(`C2C${person.userID}`);
  }

  els.newChatUser.addEventListener('focus', () => { if (els.picker.hidden) runPicker(); });
  els.newChatUser.addEventListener('input', () => {
    clearTimeout(picker.timer);
    picker.timer = setTimeout(runPicker, 200);
  });
  els.newChatUser.addEventListener('blur', () => setTimeout(() => {
    if (document.activeElement !== els.newChatUser) closePicker();
  }, 150));
  els.newChatUser.addEventListener('keydown', (ev) => {
    const n = picker.results.length;
    if (ev.key === 'ArrowDown' && n) {
      ev.preventDefault();
      picker.active = (picker.active + 1) % n;
      highlight();
    } else if (ev.key === 'ArrowUp' && n) {
      ev.preventDefault();
      picker.active = (picker.active - 1 + n) % n;
      highlight();
    } else if (ev.key === 'Escape') {
      els.newChatUser.value = '';
      closePicker();
      els.newChatUser.blur();
    } else if (ev.key === 'Tab' && !ev.shiftKey) {
      // The picker stands in the list's place: close it now, before the focus moves,
      // so Tab goes on to the conversations rather than past their hidden list.
      closePicker();
    }
  });
  els.newChat.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const typed = els.newChatUser.value.trim();
    // Results for what was typed before (the list still catching up) do not count.
    const results = picker.query === typed ? picker.results : [];
    const exact = results.find((p) => p.userID === typed);
    const chosen = exact || results[picker.active];
    if (chosen) {
      pick(chosen);
    } else if (typed) {
      els.newChatUser.value = '';
      closePicker();
      openConversation(`C2C${typed}`);
    }
  });

  // --- SDK events ---------------------------------------------------------------------

  chat.on(EVENT.MESSAGE_RECEIVED, (event) => {
    const cur = state.current;
    if (!cur) return;
    const mine = event.data.filter((m) => m.conversationID === cur.conversationID);
    if (!mine.length) return;
    const wasAtBottom = nearBottom();
    for (const m of mine) insertMessage(cur, m);
    if (mine.some((m) => m.flow === 'in')) showTyping(false);  // the message came
    if (wasAtBottom || mine.some((m) => m.flow === 'out')) scrollToBottom();
    // The unread count arrives with CONVERSATION_LIST_UPDATED, which marks it read.
  });

  chat.on(EVENT.MESSAGE_READ_BY_PEER, (event) => {
    const cur = state.current;
    if (!cur) return;
    for (const receipt of event.data || []) {
      if (receipt.conversationID !== cur.conversationID) continue;
      for (const m of cur.messages) {
        if (m.flow === 'out' && m.seq && m.seq <= receipt.peerReadSeq && !m.isPeerRead) {
          m.isPeerRead = true;
          insertMessage(cur, m);
        }
      }
    }
  });

  // A recalled or changed message is drawn again in its place.
  for (const name of [EVENT.MESSAGE_REVOKED, EVENT.MESSAGE_MODIFIED]) {
    chat.on(name, (event) => {
      const cur = state.current;
      if (!cur) return;
      for (const m of event.data || []) {
        if (m.conversationID === cur.conversationID && cur.nodes.has(m.ID)) insertMessage(cur, m);
      }
    });
  }

  if (EVENT.MESSAGE_DELETED) {  // deleted for me on another device
    chat.on(EVENT.MESSAGE_DELETED, (event) => {
      const cur = state.current;
      const data = event.data || {};
      if (!cur || data.conversationID !== cur.conversationID) return;
      for (const id of data.messageIDList || []) {
        const m = cur.messages.find((x) => x.ID === id);
        if (m) removeMessage(cur, id, m);
      }
    });
  }

  chat.on(EVENT.MESSAGE_REACTIONS_UPDATED, (event) => reactions.onUpdated(event.data));

  chat.on(EVENT.CONVERSATION_LIST_UPDATED, (event) => setConversations(event.data));
  chat.on(EVENT.BLACKLIST_UPDATED, (event) => {
    state.blocked = new Set((event.data || []).filter((id) => typeof id === 'string'));
    if (state.current) showBlocked(state.current);
  });
  chat.on(EVENT.FRIEND_LIST_UPDATED, (event) => {
    if (Array.isArray(event.data)) state.friends = event.data;
  });
  chat.on(EVENT.USER_STATUS_UPDATED, (event) => {
    for (const u of event.data || []) {
      if (u.userID === watchedPeer) showPeerStatus(u.statusType);
    }
  });
  chat.on(EVENT.TYPING, (event) => {
    const cur = state.current;
    if (cur && event.data && event.data.from === cur.peerID) showTyping(event.data.typing);
  });
  chat.on(EVENT.TOTAL_UNREAD_MESSAGE_COUNT_UPDATED, (event) => setTotalUnread(event.data));

  chat.on(EVENT.SDK_READY, async () => {
    setNetState('ready', 'online');
    hideBanner();
    if (state.everReady) {  // a reconnect: the SDK re-sent the list and the count
      if (watchedPeer) watchPeerStatus(watchedPeer);  // subscriptions are per connection
      const cur = state.current;
      if (cur && cur.heldSeq !== undefined) {
        refill(cur).finally(() => { if (state.current === cur) markRead(cur); });
        delete cur.heldSeq;
      }
      return;
    }
    state.everReady = true;
    document.body.dataset.ready = '1';
    try {
      const {data} = await chat.getConversationList();
      setConversations(data.conversationList);
    } catch (err) {
      console.warn('getConversationList failed', err);
    }
    setTotalUnread(chat.getTotalUnreadMessageCount());
    const wanted = decodeURIComponent(window.location.hash.slice(1));
    if (!state.current && /^C2C./.test(wanted)) openConversation(wanted, {fromHistory: true});
  });

  chat.on(EVENT.SYNC_RESET, () => {
    // Not everything missed could be replayed: history on screen may have gaps.
    if (state.current) openConversation(state.current.conversationID, {force: true});
  });

  chat.on(EVENT.NET_STATE_CHANGE, (event) => {
    if (state.ended) return;
    const net = event.data.state;
    if (net === ParleyChat.TYPES.NET_STATE_CONNECTING) {
      setNetState('connecting', 'connecting…');
      if (state.everReady) showBanner('Connection lost. Reconnecting…');
      const cur = state.current;
      if (cur && cur.heldSeq === undefined) cur.heldSeq = newestSeq(cur);
      // Nothing is known of the peer until the page is back: no stale "online" or
      // "typing…" (SDK_READY asks for the status again).
      showPeerStatus(0);
      showTyping(false);
    } else if (net === ParleyChat.TYPES.NET_STATE_DISCONNECTED) {
      setNetState('disconnected', 'offline');
      showBanner('Disconnected.', {error: true, reload: true});
      showPeerStatus(0);
      showTyping(false);
    }
  });

  chat.login({userID: config.userID}).catch((err) => {
    state.ended = true;
    if (ParleyUI.sessionRefused(err)) {  // e.g. kicked before this page was loaded
      setNetState('kicked', 'signed out');
      ParleyUI.signedOut(`Your session has ended. ${ParleyUI.errorWords(err)}`);
      return;
    }
    setNetState('disconnected', 'offline');
    showBanner(`Could not connect: ${errorText(err)}`, {error: true, reload: true});
  });
})();
