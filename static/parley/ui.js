/*
 * What every page of the web UI shares, on top of the SDK in sdk.js: DOM helpers, the
 * top bar (links, the friend-request badge, my nick, the connection state), the
 * banner, and starting a page's SDK.
 *
 *   ParleyUI.start((chat, config) => { chat.on(...); });  // a page with its own SDK
 *   ParleyUI.attachNav(chat);                              // the chat page (chat.js)
 *   ParleyUI.errorWords(err)  // an SDK error in words a person can act on
 *   ParleyUI.errorText(err)   // the same, with the code kept as a detail: "... (30516)"
 *   ParleyUI.signedOut(text)  // the page says it is signed out and offers sign in
 *
 * All user-provided text goes into the page through textContent, never innerHTML.
 */
(function (root) {
  'use strict';

  const $ = (id) => document.getElementById(id);

  /**
   * A new element: attrs (className, text, others as attributes; false/null skipped).
   * Text goes in as text nodes, never as HTML; event-handler attributes are refused
   * (addEventListener instead: the page's CSP would block them anyway).
   */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (/^on/i.test(key) || /^(innerHTML|outerHTML|srcdoc)$/i.test(key)) {
        throw new Error(`ParleyUI.el: ${key} is not allowed`);
      }
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

  // --- errors in words -----------------------------------------------------------------

  // What a person can do about an error, by code. Codes not here (and the generic
  // "bad parameter" ones, whose server message names the field) keep the server's message.
  const ERROR_WORDS = {
    20003: 'There is no user with this UserID.',
    20005: 'The server had a problem. Try again in a moment.',
    20006: 'The message was refused by the server\'s filter.',
    20007: 'You cannot send to this person: they have blocked you.',
    20009: 'You can only send to friends: add this person as a friend first.',
    20010: 'You can only send to friends: add this person as a friend first.',
    20011: 'You can only send to friends: this person has not added you as a friend.',
    20012: 'You are muted: you cannot send messages for now.',
    20016: 'It is too late to recall this message.',
    20022: 'This message no longer exists.',
    20023: 'This message was already recalled.',
    20028: 'The message was changed meanwhile; try again.',
    23004: 'This message is no longer in your history.',
    23005: 'This message has all the kinds of reactions it can hold (20).',
    30003: 'There is no user with this UserID.',
    30010: 'Your contact list is full (3,000 contacts). Remove someone first.',
    30011: 'You have too many friend lists (32). Delete one first.',
    30012: 'You have too many pending friend requests. Wait for some answers first.',
    30013: 'Your blocklist is full (1,000). Unblock someone first.',
    30014: 'Their contact list is full.',
    30515: 'This person is in your blocklist. Unblock them first.',
    30516: 'This person does not accept friend requests.',
    30525: 'This person has blocked you.',
    30539: 'Friend request sent. Waiting for an answer.',
    30614: 'This friend request is no longer pending.',
    31704: 'This person is not your friend.',
    40601: 'This is too long. Shorten it and try again.',
    40605: 'This value is not allowed.',
    51012: 'You can pin at most 50 conversations. Unpin one first.',
    80003: 'The message could not be checked by the server\'s filter. Try again later.',
    93000: 'The message is too long (12 KB at most). Shorten it or send it in parts.',
    910004: 'Not found: it may have been deleted.',
    910005: 'Too many requests. Wait a moment and try again.',
    910006: 'The file is too large.',
    910007: 'This kind of file is not supported.',
    910008: 'You are signed out. Sign in again.',
    910009: 'You are not allowed to do this.',
    910011: 'Today\'s upload quota is used up. Try again tomorrow.',
    910201: 'The connection was lost before the server answered. Try again.',
    910202: 'The server did not answer in time. Try again.',
    910503: 'The server is busy. Try again in a moment.',
    70001: 'Your session expired. Sign in again.',
  };

  /** An error (SDK rejection, {code, message}, Error or string) as a sentence to act on. */
  function errorWords(err) {
    if (err === null || err === undefined) return 'Something went wrong. Try again.';
    if (typeof err === 'string') return sentence(err);
    const code = Number(err.code);
    if (ERROR_WORDS[code]) return ERROR_WORDS[code];
    if (code >= 70000 && code < 80000) return 'Your sign-in was refused. Sign in again.';
    if (err.message) return sentence(err.message);
    return 'Something went wrong. Try again.';
  }

  function sentence(text) {
    const t = String(text).trim();
    if (!t) return 'Something went wrong. Try again.';
    const first = t[0].toUpperCase() + t.slice(1);
    return /[.!?]$/.test(first) ? first : `${first}.`;
  }

  /** errorWords with the code kept as a detail at the end: "... (30516)". */
  function errorText(err) {
    const code = err && typeof err === 'object' && err.code !== undefined ? ` (${err.code})` : '';
    return `${errorWords(err)}${code}`;
  }

  /** The day a message belongs to, as a separator says it: Today, Yesterday, or a date. */
  function dayLabel(seconds, now) {
    const d = new Date(seconds * 1000);
    const today = now ? new Date(now) : new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (d.toDateString() === today.toDateString()) return 'Today';
    if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
    const options = {weekday: 'short', month: 'short', day: 'numeric'};
    if (d.getFullYear() !== today.getFullYear()) options.year = 'numeric';
    return d.toLocaleDateString([], options);
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
    const menuBadge = $('menu-badge');  // the same count on the phone's menu button
    if (badge) {
      chat.on(EVENT.FRIEND_APPLICATION_LIST_UPDATED, (event) => {
        const n = (event.data && event.data.unreadCount) || 0;
        for (const node of [badge, menuBadge]) {
          if (!node) continue;
          node.textContent = String(n);
          node.dataset.count = String(n);
          node.hidden = n === 0;
        }
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

  /** The phone's menu button opens and closes the top bar's links (app.css). */
  function setupMenu() {
    const bar = $('topbar');
    const toggle = $('menu-button');
    if (!bar || !toggle) return;
    const setOpen = (open) => {
      bar.classList.toggle('menu-open', open);
      toggle.setAttribute('aria-expanded', String(open));
    };
    toggle.addEventListener('click', (ev) => {
      ev.stopPropagation();
      setOpen(!bar.classList.contains('menu-open'));
    });
    document.addEventListener('click', (ev) => {
      if (!bar.contains(ev.target) || ev.target.closest('a')) setOpen(false);
    });
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && bar.classList.contains('menu-open')) {
        setOpen(false);
        toggle.focus();
      }
    });
  }

  // --- signed out ----------------------------------------------------------------------

  const KICK_WORDS = {
    REST_API_Kick: 'An administrator signed you out of this account.',
    multipleDevice: 'This account signed in elsewhere with this device, so it was signed out here.',
    multipleAccount: 'This account signed in elsewhere, so it was signed out here.',
    userSigExpired: 'Your session expired.',
  };

  /** Words for a KICKED_OUT event's type. */
  function kickWords(type) {
    return KICK_WORDS[type] || 'You were signed out.';
  }

  /**
   * The page stops looking signed in: the lists and links go, a card says why and
   * offers to sign in again. Its button ends this browser's session (the sign-out form,
   * a POST with the CSRF token) and so lands on the sign-in page.
   */
  function signedOut(text) {
    document.body.classList.add('is-signed-out');
    hideBanner();  // the card is the one message: a connection banner no longer applies
    const old = $('signed-out');
    if (old) {
      old.querySelector('p').textContent = text;
      return;
    }
    const form = $('signout-form');
    const signIn = el('button', {type: 'button', className: 'primary', 'data-testid': 'sign-in-again',
                                 text: 'Sign in again'});
    signIn.addEventListener('click', () => {
      if (form) form.requestSubmit();
      else root.location.assign('/accounts/signin/');
    });
    const card = el('section', {id: 'signed-out', className: 'card signed-out',
                                'data-testid': 'signed-out', role: 'alert'},
      el('h1', {text: 'You are signed out'}), el('p', {text}), signIn);
    const main = document.querySelector('main');
    main.prepend(card);
    signIn.focus();
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

  /** A login refused because the session or UserSig is no longer good (not a network error). */
  function sessionRefused(err) {
    const code = Number(err && err.code);
    return code === 910008 || (code >= 70000 && code < 80000);
  }

  /**
   * The session's end, on any page: KICKED_OUT (an operator's kick, a login elsewhere)
   * and a UserSig refused (ERROR 70xxx) show the signed-out state; `onEnd` runs first.
   */
  function watchSession(chat, onEnd) {
    const EVENT = ParleyChat.EVENT;
    chat.on(EVENT.KICKED_OUT, (event) => {
      const type = (event.data && event.data.type) || '';
      onEnd();
      setNetState('kicked', 'signed out');
      signedOut(kickWords(type));
    });
    chat.on(EVENT.ERROR, (event) => {
      const data = event.data || {};
      if (String(data.code).startsWith('700')) {
        onEnd();
        setNetState('kicked', 'signed out');
        signedOut(`Your session has ended. ${errorWords(data)}`);
      }
    });
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
    watchSession(chat, () => { ended = true; });

    setup(chat, config);

    chat.login({userID: config.userID}).catch((err) => {
      ended = true;
      if (sessionRefused(err)) {
        setNetState('kicked', 'signed out');
        signedOut(`Your session has ended. ${errorWords(err)}`);
        return;
      }
      setNetState('disconnected', 'offline');
      showBanner(`Could not connect: ${errorText(err)}`, {error: true, reload: true});
    });
    return chat;
  }

  setupMenu();

  root.ParleyUI = Object.freeze({
    $, el, button, errorWords, errorText, formatTime, dayLabel, avatar, initial, setStatus,
    attachNav, signedOut, kickWords, watchSession, sessionRefused, start,
  });
})(window);
