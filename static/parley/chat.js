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

  const $ = (id) => document.getElementById(id);
  const els = {
    banner: $('banner'),
    bannerText: $('banner-text'),
    bannerAction: $('banner-action'),
    netState: $('net-state'),
    totalBox: $('total-unread-box'),
    total: $('total-unread'),
    newChat: $('new-chat'),
    newChatUser: $('new-chat-user'),
    convList: $('conversation-list'),
    convEmpty: $('conversation-empty'),
    placeholder: $('chat-placeholder'),
    view: $('chat-view'),
    title: $('chat-title'),
    peerID: $('chat-peer-id'),
    peerStatus: $('chat-peer-status'),
    typing: $('chat-typing'),
    scroll: $('message-scroll'),
    loadOlder: $('load-older'),
    historyStatus: $('history-status'),
    messageList: $('message-list'),
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
  };

  // --- small helpers ------------------------------------------------------------------

  const el = ParleyUI.el;  // one element builder for every page (ui.js)

  function peerOf(conversationID) {
    return conversationID.slice(3);
  }

  function findConversation(conversationID) {
    return state.conversations.find((c) => c.conversationID === conversationID) || null;
  }

  function peerName(conversationID) {
    const conv = findConversation(conversationID);
    const profile = conv && conv.userProfile;
    return (profile && profile.nick) || peerOf(conversationID);
  }

  const elementText = ParleyRender.elementText;  // every type's one-line text (render.js)

  function messagePreview(m) {
    if (!m) return '';
    if (m.isRevoked) return '[Message recalled]';
    const text = (m.elements || []).map(elementText).join(' ');
    return m.flow === 'out' ? `You: ${text}` : text;
  }

  function formatTime(seconds, withDate) {
    if (!seconds) return '';
    const d = new Date(seconds * 1000);
    const time = d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
    if (!withDate || d.toDateString() === new Date().toDateString()) return time;
    return `${d.toLocaleDateString([], {month: 'short', day: 'numeric'})} ${time}`;
  }

  function errorText(err) {
    const code = err && err.code !== undefined ? ` (${err.code})` : '';
    return `${(err && err.message) || 'error'}${code}`;
  }

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
      const button = el('button', {type: 'button', className: 'conv'},
        name,
        el('span', {className: 'conv-time',
                    text: formatTime(conv.lastMessage && conv.lastMessage.time, true)}),
        el('span', {className: 'conv-preview', 'data-testid': 'conversation-preview',
                    text: messagePreview(conv.lastMessage)}),
        el('span', {className: 'badge', 'data-testid': 'unread-badge', hidden: unread === 0,
                    text: String(unread)}));
      button.addEventListener('click', () => openConversation(id));
      return el('li', {
        className: id === current ? 'active' : '',
        'data-testid': 'conversation',
        'data-conversation-id': id,
        'data-unread': unread,
      }, button);
    });
    els.convList.replaceChildren(...items);
    els.convEmpty.hidden = items.length > 0;
  }

  function setConversations(list) {
    state.conversations = list;
    renderConversations();
    const cur = state.current;
    if (cur) {
      els.title.textContent = peerName(cur.conversationID);
      const conv = findConversation(cur.conversationID);
      if (conv && conv.unreadCount > 0 && pageVisible()) markRead(cur);
    }
  }

  // --- the open conversation ----------------------------------------------------------

  /** A message item; its content comes from render.js, its actions from compose.js. */
  function renderMessage(m) {
    const out = m.flow === 'out';
    const bubble = el('div', {className: 'msg-bubble'}, ParleyRender.content(m, {chat}));
    const meta = el('div', {className: 'msg-meta'},
      el('time', {text: formatTime(m.time, true)}));
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
    return item;
  }

  function nearBottom() {
    const s = els.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  function scrollToBottom() {
    els.scroll.scrollTop = els.scroll.scrollHeight;
  }

  /** Put a message in its place: stored ones by seq, unsent ones at the end. */
  function insertMessage(cur, m) {
    if (cur.nodes.has(m.ID)) {
      const old = cur.nodes.get(m.ID);
      const index = cur.messages.findIndex((x) => x.ID === m.ID);
      if (index >= 0) cur.messages[index] = m;
      const fresh = renderMessage(m);
      old.replaceWith(fresh);
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
  }

  function removeMessage(cur, key, message) {
    const node = cur.nodes.get(key);
    if (node) node.remove();
    cur.nodes.delete(key);
    const index = cur.messages.indexOf(message);
    if (index >= 0) cur.messages.splice(index, 1);
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

  async function openConversation(conversationID, {force = false} = {}) {
    if (!/^C2C./.test(conversationID)) return;
    if (!force && state.current && state.current.conversationID === conversationID) {
      markRead(state.current);
      return;
    }
    const cur = {
      conversationID,
      peerID: peerOf(conversationID),
      messages: [],
      nodes: new Map(),
      nextReqMessageID: '',
      isCompleted: true,
      marking: false,
    };
    state.current = cur;
    history.replaceState(null, '', `#${encodeURIComponent(conversationID)}`);
    els.placeholder.hidden = true;
    els.view.hidden = false;
    els.title.textContent = peerName(conversationID);
    els.peerID.textContent = `UserID: ${cur.peerID}`;
    showTyping(false);
    watchPeerStatus(cur.peerID);
    els.messageList.replaceChildren();
    els.loadOlder.hidden = true;
    hideSendError();
    tools.setSelecting(false);
    els.historyStatus.textContent = 'Loading…';
    els.historyStatus.hidden = false;
    renderConversations();
    els.input.focus();
    await loadHistory(cur, {older: false});
    markRead(cur);
  }

  async function loadHistory(cur, {older}) {
    els.loadOlder.disabled = true;
    try {
      const options = {conversationID: cur.conversationID};
      if (older) options.nextReqMessageID = cur.nextReqMessageID;
      const {data} = await chat.getMessageList(options);
      if (state.current !== cur) return;
      const height = els.scroll.scrollHeight;
      const top = els.scroll.scrollTop;
      for (const m of data.messageList) insertMessage(cur, m);
      cur.nextReqMessageID = data.nextReqMessageID;
      cur.isCompleted = data.isCompleted;
      els.loadOlder.hidden = data.isCompleted || !data.nextReqMessageID;
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
      els.loadOlder.disabled = false;
    }
  }

  /** Mark the open conversation read when it has unread messages. */
  function markRead(cur) {
    const conv = findConversation(cur.conversationID);
    if (!conv || !conv.unreadCount || cur.marking || state.current !== cur) return;
    cur.marking = true;
    chat.setMessageRead({conversationID: cur.conversationID})
      .catch((err) => console.warn('setMessageRead failed', err))
      .finally(() => { cur.marking = false; });
  }

  // --- sending ------------------------------------------------------------------------

  function showSendError(err, peer) {
    const why = ParleyWords.explain(err, peer || (state.current && state.current.peerID));
    els.sendError.textContent = `Could not send: ${why.text}`;
    els.sendError.title = why.detail;  // the code, for a bug report
    els.sendError.hidden = false;
  }

  function hideSendError() {
    els.sendError.hidden = true;
    els.sendError.textContent = '';
    els.sendError.title = '';
  }

  function sendText() {
    const cur = state.current;
    if (!cur) return;
    const text = els.input.value.replace(/\s+$/, '');
    if (!text.trim()) return;
    hideSendError();
    let message;
    try {
      message = chat.createTextMessage({to: cur.peerID, conversationType: 'C2C', payload: {text}});
    } catch (err) {
      showSendError(err);
      return;
    }
    tools.rememberDraft(message, els.input.value);
    els.input.value = '';
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
  els.newChat.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const userID = els.newChatUser.value.trim();
    if (!userID) return;
    els.newChatUser.value = '';
    openConversation(`C2C${userID}`);
  });
  els.loadOlder.addEventListener('click', () => {
    if (state.current && state.current.nextReqMessageID) {
      loadHistory(state.current, {older: true});
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (pageVisible() && state.current) markRead(state.current);
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

  chat.on(EVENT.CONVERSATION_LIST_UPDATED, (event) => setConversations(event.data));
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
    if (!state.current && /^C2C./.test(wanted)) openConversation(wanted);
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
    } else if (net === ParleyChat.TYPES.NET_STATE_DISCONNECTED) {
      setNetState('disconnected', 'offline');
      showBanner('Disconnected.', {error: true, reload: true});
    }
  });

  chat.on(EVENT.KICKED_OUT, (event) => {
    state.ended = true;
    setNetState('kicked', 'signed out');
    showBanner(`You were signed out here because this account signed in elsewhere (${event.data.type}).`,
      {error: true, reload: true});
  });

  chat.on(EVENT.ERROR, (event) => {
    const data = event.data || {};
    if (String(data.code).startsWith('700')) {
      state.ended = true;
      setNetState('disconnected', 'offline');
      showBanner(`Your session has ended: ${data.message} (${data.code}). Reload to sign in again.`,
        {error: true, reload: true});
    }
  });

  chat.login({userID: config.userID}).catch((err) => {
    state.ended = true;
    setNetState('disconnected', 'offline');
    showBanner(`Could not connect: ${errorText(err)}`, {error: true, reload: true});
  });
})();
