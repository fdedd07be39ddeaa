/*
 * Parley's service worker: shows the Web Push notifications the server sends
 * (push/providers/webpush.py) and opens the conversation on a click.
 *
 * Served at /sw.js (push/pages.py) so its scope covers /chat/. The page side is
 * static/parley/notify.js. A push's payload is JSON:
 *   {title, body, conversationID, messageID, extension, badge}  a new message
 *   {withdraw: true, conversationID, messageID}                  read elsewhere: close it
 *
 * One notification per conversation (tag = conversationID): a newer message replaces
 * the older one, and a withdrawal closes it only while it still shows that message.
 * While the chat page is in front, focused, the page shows messages itself and the
 * worker shows nothing (browsers do not ask for a notification from a visible site).
 */
'use strict';

const CHAT_PATH = '/chat/';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function payloadOf(event) {
  if (!event.data) return null;
  try {
    const data = event.data.json();
    return data && typeof data === 'object' && !Array.isArray(data) ? data : null;
  } catch (err) {
    return null;
  }
}

function text(value, most) {
  return typeof value === 'string' ? value.slice(0, most) : '';
}

async function windows() {
  return self.clients.matchAll({type: 'window', includeUncontrolled: true});
}

function isChat(client) {
  try {
    return new URL(client.url).pathname === CHAT_PATH;
  } catch (err) {
    return false;
  }
}

async function chatInFront() {
  return (await windows()).some((c) => isChat(c) && c.focused && c.visibilityState === 'visible');
}

async function withdraw(data) {
  const messageID = text(data.messageID, 100);
  const conversationID = text(data.conversationID, 100);
  const shown = await self.registration.getNotifications();
  for (const n of shown) {
    const d = n.data || {};
    if (messageID ? d.messageID === messageID : (conversationID && d.conversationID === conversationID)) {
      n.close();
    }
  }
}

async function show(data) {
  if (!data) return;
  if (data.withdraw) {
    await withdraw(data);
    return;
  }
  if (await chatInFront()) return;
  const conversationID = text(data.conversationID, 100);
  const messageID = text(data.messageID, 100);
  await self.registration.showNotification(text(data.title, 200) || 'New message', {
    body: text(data.body, 4000),
    tag: conversationID || messageID || 'parley',
    renotify: true,
    data: {conversationID, messageID, extension: text(data.extension, 4000)},
  });
  if (Number.isInteger(data.badge) && data.badge >= 0 && self.navigator.setAppBadge) {
    self.navigator.setAppBadge(data.badge).catch(() => {});
  }
}

function chatURL(conversationID) {
  const hash = /^C2C./.test(conversationID || '') ? `#${encodeURIComponent(conversationID)}` : '';
  return new URL(CHAT_PATH + hash, self.location.origin).href;
}

// A click: the chat page already open is told which conversation to show (notify.js)
// and brought forward; without one, a new window opens on it.
async function openConversation(data) {
  const conversationID = text((data || {}).conversationID, 100);
  const chat = (await windows()).find(isChat);
  if (chat) {
    chat.postMessage({type: 'parley.open-conversation', conversationID});
    try {
      await chat.focus();
    } catch (err) {
      // Focus needs the click's user activation; the message was delivered anyway.
    }
    return chat;
  }
  return self.clients.openWindow(chatURL(conversationID));
}

self.addEventListener('push', (event) => {
  event.waitUntil(show(payloadOf(event)).catch((err) => console.error('push not shown', err)));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(openConversation(event.notification.data));
});

// For tests and the console: the handlers' logic, callable without a real event.
self.parleyWorker = {show, withdraw, openConversation, chatURL};
