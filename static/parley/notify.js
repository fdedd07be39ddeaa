/*
 * Browser notifications for the chat page (Web Push; the worker is static/parley/sw.js,
 * the server side push/providers/webpush.py).
 *
 * - Adds a "Turn on notifications" button to the top bar. The browser's permission
 *   prompt comes only from a click on it, never on load.
 * - Turning on: registers the worker (/sw.js, scope /), subscribes with the server's
 *   VAPID key (GET /api/v1/push/vapid-key/) and registers the subscription as this
 *   browser's `webpush` token (POST /api/v1/push/tokens/). The device ID is kept in
 *   localStorage, so one browser is one push device across visits and sign-ins.
 * - On each visit with notifications on, the subscription is registered again (the
 *   push service may have renewed it; the server's key may have changed).
 * - Turning off, and signing out, unsubscribes and removes the token (DELETE), so a
 *   signed-out browser gets no pushes.
 * - A click on a notification while this page is open: the worker posts
 *   {type: 'parley.open-conversation', conversationID}, and the page goes to
 *   #<conversationID> (chat.js opens the conversation named in the address).
 * - The chat header gets "Mute" / "Unmute" for the open conversation
 *   (setMessageRemindType AcceptNotNotify; "Unmute" sets AcceptAndNotify again).
 */
(function () {
  'use strict';

  const DEVICE_KEY = 'parley.push.deviceID';
  const TOKENS_URL = '/api/v1/push/tokens/';
  const supported = 'serviceWorker' in navigator && 'PushManager' in window &&
    'Notification' in window && window.isSecureContext;

  function deviceID() {
    let id = '';
    try {
      id = localStorage.getItem(DEVICE_KEY) || '';
    } catch (err) {
      // storage blocked: a new device each visit
    }
    if (!/^web-push-[0-9a-f]{16,32}$/.test(id)) {
      const bytes = new Uint8Array(12);
      crypto.getRandomValues(bytes);
      id = 'web-push-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
      try {
        localStorage.setItem(DEVICE_KEY, id);
      } catch (err) {
        // as above
      }
    }
    return id;
  }

  function csrfToken() {
    const input = document.querySelector('form.signout input[name="csrfmiddlewaretoken"]');
    return input ? input.value : '';
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrfToken()},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const err = new Error(data.message || `HTTP ${response.status}`);
      err.code = data.code;
      throw err;
    }
    return data;
  }

  function keyBytes(base64url) {
    const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
    const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function sameKey(buffer, bytes) {
    if (!buffer) return false;
    const a = new Uint8Array(buffer);
    return a.length === bytes.length && a.every((v, i) => v === bytes[i]);
  }

  async function registration() {
    await navigator.serviceWorker.register('/sw.js', {scope: '/'});
    return navigator.serviceWorker.ready;
  }

  // Subscribe (or keep the subscription made with the current key) and register it.
  async function subscribe() {
    const reg = await registration();
    const {publicKey} = await api('GET', '/api/v1/push/vapid-key/');
    const key = keyBytes(publicKey);
    let sub = await reg.pushManager.getSubscription();
    if (sub && !sameKey(sub.options && sub.options.applicationServerKey, key)) {
      await sub.unsubscribe();  // made with another server key: useless now
      sub = null;
    }
    if (!sub) {
      sub = await reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
    }
    await api('POST', TOKENS_URL, {deviceID: deviceID(), vendor: 'webpush', token: sub.toJSON()});
    return sub;
  }

  async function unsubscribe() {
    const reg = await navigator.serviceWorker.getRegistration('/');
    const sub = reg ? await reg.pushManager.getSubscription() : null;
    if (sub) await sub.unsubscribe().catch(() => {});
    await api('DELETE', `${TOKENS_URL}?deviceID=${encodeURIComponent(deviceID())}`);
  }

  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link-button notify-toggle';
  button.dataset.testid = 'notify-toggle';

  function render(state, detail) {
    button.dataset.state = state;
    button.disabled = state === 'busy' || state === 'blocked' || state === 'unsupported';
    button.textContent = {
      off: 'Turn on notifications',
      on: 'Notifications on · turn off',
      busy: 'Notifications…',
      blocked: 'Notifications blocked',
      unsupported: 'Notifications unavailable',
      error: 'Turn on notifications (failed; retry)',
    }[state];
    button.title = detail || {
      blocked: 'Allow notifications for this site in the browser settings',
      unsupported: 'This browser cannot receive notifications from this page',
    }[state] || '';
  }

  async function turnOn() {
    render('busy');
    try {
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') {
        render(permission === 'denied' ? 'blocked' : 'off');
        return;
      }
      await subscribe();
      render('on');
    } catch (err) {
      console.warn('turning on notifications failed', err);
      render('error', String(err && err.message || err));
    }
  }

  async function turnOff() {
    render('busy');
    try {
      await unsubscribe();
      render('off');
    } catch (err) {
      console.warn('turning off notifications failed', err);
      render('on', String(err && err.message || err));
    }
  }

  button.addEventListener('click', () => {
    if (button.dataset.state === 'on') turnOff();
    else turnOn();
  });

  async function start() {
    if (!supported) {
      render('unsupported');
      return;
    }
    if (Notification.permission === 'denied') {
      render('blocked');
      return;
    }
    render('off');
    navigator.serviceWorker.addEventListener('message', (event) => {
      const data = event.data || {};
      if (data.type === 'parley.open-conversation' && /^C2C./.test(data.conversationID || '')) {
        window.location.hash = `#${encodeURIComponent(data.conversationID)}`;
      }
    });
    const reg = await navigator.serviceWorker.getRegistration('/');
    const sub = reg ? await reg.pushManager.getSubscription() : null;
    if (sub && Notification.permission === 'granted') {
      render('busy');
      try {
        await subscribe();  // registered again: renewed, or signed in as someone else
        render('on');
      } catch (err) {
        console.warn('renewing the push subscription failed', err);
        render('error', String(err && err.message || err));
      }
    }
  }

  // Signing out removes this browser's token first (bounded: sign-out never hangs).
  const signout = document.querySelector('form.signout');
  if (signout) {
    signout.addEventListener('submit', (event) => {
      if (button.dataset.state !== 'on' || signout.dataset.pushRemoved) return;
      event.preventDefault();
      signout.dataset.pushRemoved = '1';
      const timeout = new Promise((resolve) => setTimeout(resolve, 3000));
      Promise.race([unsubscribe().catch(() => {}), timeout]).then(() => signout.submit());
    });
  }

  // Per-conversation "Mute" / "Unmute" in the chat header: the receive option
  // AcceptNotNotify (messages still arrive, no offline push) or back to AcceptAndNotify,
  // through the SDK's setMessageRemindType; the state comes with the conversations.
  function setUpMute() {
    const chat = window.parleyChat;
    const header = document.getElementById('chat-actions') || document.querySelector('.chat-header');
    const title = document.getElementById('chat-title');
    if (!chat || !header || typeof chat.setMessageRemindType !== 'function') return;
    const EVENT = window.ParleyChat.EVENT;
    const remind = new Map();  // conversationID -> messageRemindType
    const mute = document.createElement('button');
    mute.type = 'button';
    mute.className = 'icon-button mute-toggle';
    mute.dataset.testid = 'mute-toggle';
    header.insertBefore(mute, header.firstChild);

    // chat.js names the open conversation in the address.
    const current = () => {
      const id = decodeURIComponent(window.location.hash.slice(1));
      const view = document.getElementById('chat-view');
      return /^C2C./.test(id) && !(view && view.hidden) ? id : '';
    };
    const isMuted = (id) => (remind.get(id) || 'AcceptAndNotify') !== 'AcceptAndNotify';
    function renderMute() {
      const id = current();
      mute.hidden = !id;
      const muted = isMuted(id);
      mute.dataset.muted = muted ? '1' : '0';
      mute.setAttribute('aria-pressed', muted ? 'true' : 'false');
      mute.textContent = muted ? 'Unmute' : 'Mute';
      mute.title = muted ? 'Messages here arrive without notifications'
        : 'Stop notifications for this conversation';
    }
    function learn(list) {
      for (const c of list || []) {
        if (c && c.conversationID) remind.set(c.conversationID, c.messageRemindType || 'AcceptAndNotify');
      }
      renderMute();
    }
    chat.on(EVENT.CONVERSATION_LIST_UPDATED, (event) => learn(event.data));
    chat.on(EVENT.SDK_READY, () => {
      chat.getConversationList().then(({data}) => learn(data.conversationList), () => {});
    });
    mute.addEventListener('click', async () => {
      const id = current();
      if (!id) return;
      const next = isMuted(id) ? 'AcceptAndNotify' : 'AcceptNotNotify';
      mute.disabled = true;
      try {
        await chat.setMessageRemindType({userIDList: [id.slice(3)], messageRemindType: next});
        remind.set(id, next);
      } catch (err) {
        console.warn('setMessageRemindType failed', err);
      } finally {
        mute.disabled = false;
        renderMute();
      }
    });
    // Opening another conversation changes the title (the address changes without an event).
    if (title) new MutationObserver(renderMute).observe(title, {childList: true, characterData: true, subtree: true});
    window.addEventListener('hashchange', renderMute);
    renderMute();
  }
  setUpMute();

  const me = document.querySelector('.topbar .me');
  if (me) me.before(button);
  else (document.querySelector('.topbar') || document.body).appendChild(button);
  window.parleyNotify = {deviceID, subscribe, unsubscribe, state: () => button.dataset.state};
  start().catch((err) => console.warn('notifications', err));
})();
