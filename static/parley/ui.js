/*
 * What every page of the web UI shares, on top of the SDK in sdk.js: DOM helpers, the
 * top bar (links, the friend-request badge, my nick, the connection state), the
 * banner, and starting a page's SDK.
 *
 *   ParleyUI.start((chat, config) => { chat.on(...); });  // a page with its own SDK
 *   ParleyUI.attachNav(chat);                              // the chat page (chat.js)
 *
 * All user-provided text goes into the page through textContent, never innerHTML.
 */
(function (root) {
  'use strict';

  const $ = (id) => document.getElementById(id);

  /** A new element: attrs (className, text, others as attributes; false/null skipped). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'className') node.className = value;
      else if (key === 'text') node.textContent = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(typeof child === 'string' ? document.createTextNode(child) : child);
      }
    }
    return node;
  }

  function button(text, testid, onClick, className) {
    const node = el('button', {type: 'button', className: className || '', 'data-testid': testid,
                               text});
    if (onClick) node.addEventListener('click', onClick);
    return node;
  }

  function errorText(err) {
    const code = err && err.code !== undefined ? ` (${err.code})` : '';
    return `${(err && err.message) || 'error'}${code}`;
  }

  function formatTime(seconds) {
    if (!seconds) return '';
    const d = new Date(seconds * 1000);
    const time = d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
    if (d.toDateString() === new Date().toDateString()) return time;
    return `${d.toLocaleDateString([], {month: 'short', day: 'numeric'})} ${time}`;
  }

  /** An avatar: the picture when the URL is http(s), else the name's first letter. */
  function avatar(url, name) {
    const box = el('span', {className: 'avatar', 'aria-hidden': 'true'});
    if (typeof url === 'string' && /^https?:\/\//i.test(url)) {
      const img = el('img', {alt: '', src: url, referrerpolicy: 'no-referrer'});
      img.addEventListener('error', () => img.replaceWith(
        document.createTextNode(initial(name))));
      box.append(img);
    } else {
      box.textContent = initial(name);
    }
    return box;
  }

  function initial(name) {
    const first = Array.from(String(name || '?').trim())[0] || '?';
    return first.toUpperCase();
  }

  /** Show a text in a (hidden when empty) status node; `kind` sets data-kind for styles. */
  function setStatus(node, text, kind) {
    node.textContent = text || '';
    node.hidden = !text;
    node.dataset.kind = kind || '';
  }

  // --- the top bar --------------------------------------------------------------------

  /** The request badge and my nick in the top bar follow the SDK's events. */
  function attachNav(chat, config) {
    const EVENT = ParleyChat.EVENT;
    const badge = $('requests-badge');
    if (badge) {
      chat.on(EVENT.FRIEND_APPLICATION_LIST_UPDATED, (event) => {
        const n = (event.data && event.data.unreadCount) || 0;
        badge.textContent = String(n);
        badge.dataset.count = String(n);
        badge.hidden = n === 0;
      });
    }
    const meNick = $('me-nick');
    const myID = config && config.userID;
    if (meNick && myID) {
      chat.on(EVENT.PROFILE_UPDATED, (event) => {
        for (const p of event.data || []) {
          if (p && p.userID === myID && typeof p.nick === 'string') {
            meNick.textContent = p.nick || myID;
          }
        }
      });
    }
  }

  function setNetState(name, label) {
    const node = $('net-state');
    if (!node) return;
    node.dataset.state = name;
    node.textContent = label;
  }

  function showBanner(text, {error = false, reload = false} = {}) {
    const banner = $('banner');
    if (!banner) return;
    $('banner-text').textContent = text;
    banner.classList.toggle('is-error', error);
    $('banner-action').hidden = !reload;
    banner.hidden = false;
  }

  function hideBanner() {
    const banner = $('banner');
    if (banner) banner.hidden = true;
  }

  /**
   * Start a page: its SDK (window.parleyChat), the top bar, connection state and
   * banner; `setup(chat, config)` registers the page's handlers before the login.
   */
  function start(setup) {
    const EVENT = ParleyChat.EVENT;
    const config = JSON.parse($('parley-config').textContent);
    const chat = ParleyChat.create();
    root.parleyChat = chat;  // for the browser console
    let everReady = false;
    let ended = false;

    const action = $('banner-action');
    if (action) action.addEventListener('click', () => root.location.reload());
    attachNav(chat, config);

    chat.on(EVENT.SDK_READY, () => {
      setNetState('ready', 'online');
      hideBanner();
      if (!everReady) {
        everReady = true;
        document.body.dataset.ready = '1';
      }
    });
    chat.on(EVENT.NET_STATE_CHANGE, (event) => {
      if (ended) return;
      const net = event.data.state;
      if (net === ParleyChat.TYPES.NET_STATE_CONNECTING) {
        setNetState('connecting', 'connecting…');
        if (everReady) showBanner('Connection lost. Reconnecting…');
      } else if (net === ParleyChat.TYPES.NET_STATE_DISCONNECTED) {
        setNetState('disconnected', 'offline');
        showBanner('Disconnected.', {error: true, reload: true});
      }
    });
    chat.on(EVENT.KICKED_OUT, (event) => {
      ended = true;
      setNetState('kicked', 'signed out');
      showBanner(`You were signed out here because this account signed in elsewhere (${event.data.type}).`,
        {error: true, reload: true});
    });
    chat.on(EVENT.ERROR, (event) => {
      const data = event.data || {};
      if (String(data.code).startsWith('700')) {
        ended = true;
        setNetState('disconnected', 'offline');
        showBanner(`Your session has ended: ${data.message} (${data.code}). Reload to sign in again.`,
          {error: true, reload: true});
      }
    });

    setup(chat, config);

    chat.login({userID: config.userID}).catch((err) => {
      ended = true;
      setNetState('disconnected', 'offline');
      showBanner(`Could not connect: ${errorText(err)}`, {error: true, reload: true});
    });
    return chat;
  }

  root.ParleyUI = Object.freeze({
    $, el, button, errorText, formatTime, avatar, setStatus, attachNav, start,
  });
})(window);
