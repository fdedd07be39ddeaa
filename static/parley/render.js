/*
 * How the chat page draws a message's content, for every element type (PROTOCOL.md
 * "Messages", Tencent's payload shapes): text, image thumbnails opening the original,
 * audio and video players, files with size and download, locations with a map link,
 * stickers, custom messages, and merged "chat history" cards that open their list.
 *
 *   ParleyRender.content(message, {chat}) -> a DocumentFragment for the bubble
 *
 * Content is never parsed as HTML: text goes in through textContent, attributes
 * through setAttribute, and only http(s) URLs (or paths on this site) ever reach an
 * src or href (safeUrl).
 */
(function (root) {
  'use strict';

  const el = root.ParleyUI.el;

  // The built-in sticker set (static/parley/faces/): a face message names one by its
  // `data` (the name) or, with no data, by its `index`.
  const FACES = ['smile', 'laugh', 'wink', 'sad', 'surprised', 'love', 'cool', 'angry'];
  const FACE_BASE = (document.currentScript && document.currentScript.src)
    ? new URL('faces/', document.currentScript.src).pathname : '/static/parley/faces/';

  const LABELS = {
    TIMTextElem: '',
    TIMImageElem: '[Image]',
    TIMSoundElem: '[Voice]',
    TIMVideoFileElem: '[Video]',
    TIMFileElem: '[File]',
    TIMFaceElem: '[Sticker]',
    TIMLocationElem: '[Location]',
    TIMCustomElem: '[Custom message]',
    TIMRelayElem: '[Chat history]',
  };

  /** The URL if it may go into src/href (http, https, or a path on this site), else ''.
   *  With `local`, also an object URL of this page (a file being sent, shown at once). */
  function safeUrl(value, local = false) {
    if (typeof value !== 'string' || !value) return '';
    if (local && value.startsWith(`blob:${root.location.origin}/`)) return value;
    let url;
    try {
      url = new URL(value, root.location.href);
    } catch (err) {
      return '';
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return '';
    if (!/^https?:\/\//i.test(value) && url.origin !== root.location.origin) return '';
    return url.href;
  }

  function humanSize(bytes) {
    const n = Number(bytes);
    if (!Number.isFinite(n) || n < 0) return '';
    if (n < 1024) return `${n} B`;
    const units = ['KB', 'MB', 'GB', 'TB'];
    let value = n / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(Number(seconds) || 0));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  function faceName(payload) {
    const p = payload || {};
    if (typeof p.data === 'string' && p.data) {
      const name = p.data.replace(/^parley:/, '');
      return FACES.includes(name) ? name : null;
    }
    return Number.isInteger(p.index) && p.index >= 0 && p.index < FACES.length
      ? FACES[p.index] : null;
  }

  function faceUrl(name) {
    return `${FACE_BASE}${name}.png`;
  }

  /** The text a list line or an abstract shows for an element. */
  function elementText(elem) {
    if (!elem) return '';
    const p = elem.payload || {};
    if (elem.type === 'TIMTextElem') return typeof p.text === 'string' ? p.text : '';
    const label = LABELS[elem.type] || '[Unsupported message]';
    const extra = {
      TIMFileElem: p.fileName,
      TIMLocationElem: p.description,
      TIMRelayElem: p.title,
      TIMCustomElem: p.description,
      TIMFaceElem: faceName(p) || p.data,
    }[elem.type];
    return typeof extra === 'string' && extra ? `${label} ${extra}` : label;
  }

  function messageText(m) {
    if (!m) return '';
    if (m.isRevoked) return '[Message recalled]';
    return elementsOf(m).map(elementText).join(' ');
  }

  // --- messages inside a merged message ----------------------------------------------

  // Tencent's REST MsgContent keys (CamelCase) that do not just lose their capital.
  const REST_KEYS = {Desc: 'description', Ext: 'extension', URL: 'url', UUID: 'uuid',
                     MsgList: 'messageList', JsonMsgKey: 'downloadKey',
                     ImageFormat: 'imageFormat', Download_Flag: 'downloadFlag'};

  function restValue(value) {
    if (Array.isArray(value)) return value.map(restValue);
    if (!value || typeof value !== 'object') return value;
    const out = {};
    for (const [key, v] of Object.entries(value)) {
      const name = REST_KEYS[key] || key.charAt(0).toLowerCase() + key.slice(1);
      out[name] = key === 'MsgList' ? v : restValue(v);
    }
    return out;
  }

  /** A message's elements, whether SDK-shaped (elements, or type/payload) or REST-shaped
   *  (MsgBody of {MsgType, MsgContent}), as merged lists may hold either. */
  function elementsOf(m) {
    if (!m || typeof m !== 'object') return [];
    if (Array.isArray(m.elements)) return m.elements.filter((e) => e && typeof e === 'object');
    if (Array.isArray(m.messageBody)) {  // a merged list's item, as the SDK keeps it
      return m.messageBody.filter((e) => e && typeof e === 'object');
    }
    if (Array.isArray(m.MsgBody)) {
      return m.MsgBody.filter((e) => e && typeof e === 'object')
        .map((e) => ({type: e.MsgType, payload: restValue(e.MsgContent || {})}));
    }
    if (typeof m.type === 'string') return [{type: m.type, payload: m.payload || {}}];
    return [];
  }

  function senderOf(m) {
    const name = m.nick || m.from || m.From_Account || '';
    return typeof name === 'string' ? name : String(name);
  }

  function timeOf(m) {
    const t = Number(m.time || m.MsgTimeStamp || 0);
    if (!t) return '';
    return new Date(t * 1000).toLocaleString([], {month: 'short', day: 'numeric',
                                                  hour: '2-digit', minute: '2-digit'});
  }

  // --- one element -------------------------------------------------------------------

  function label(text) {
    return el('span', {className: 'msg-label', text});
  }

  // A thumbnail's box: its own size, scaled down to fit THUMB_MAX, each side at least
  // THUMB_MIN (a very tall or wide picture fills the box from its middle, CSS
  // object-fit), so even a 20 x 2000 image is something to see and click.
  const THUMB_MAX = 240;
  const THUMB_MIN = 48;

  function thumbBox(w, h) {
    const scale = Math.min(1, THUMB_MAX / w, THUMB_MAX / h);
    const side = (n) => Math.min(THUMB_MAX, Math.max(THUMB_MIN, Math.round(n * scale)));
    return [side(w), side(h)];
  }

  function image(p, local) {
    const infos = Array.isArray(p.imageInfoArray) ? p.imageInfoArray : [];
    const byType = (t) => infos.find((i) => i && i.type === t);
    const urlOf = (i) => (i ? safeUrl(i.url || i.imageUrl, local) : '');
    const thumbInfo = byType(3) || byType(2) || byType(1) || infos[0];
    const original = urlOf(byType(1)) || urlOf(byType(2)) || urlOf(thumbInfo);
    const thumb = urlOf(thumbInfo) || original;
    if (!thumb) return label('[Image]');
    const img = el('img', {className: 'msg-image', alt: 'Image', src: thumb,
                           'data-testid': 'msg-image', decoding: 'async'});
    const w = Number(thumbInfo && thumbInfo.width);
    const h = Number(thumbInfo && thumbInfo.height);
    if (w > 0 && h > 0) {  // its box, kept while it loads
      const [boxW, boxH] = thumbBox(w, h);
      img.setAttribute('width', String(boxW));
      img.setAttribute('height', String(boxH));
    }
    img.addEventListener('error', () => img.replaceWith(label('[Image could not be loaded]')),
      {once: true});
    return el('a', {href: original, target: '_blank', rel: 'noopener noreferrer',
                    className: 'msg-image-link', 'data-testid': 'msg-image-link',
                    title: 'Open the original'}, img);
  }

  function sound(p, local) {
    const src = safeUrl(p.url || p.remoteAudioUrl, local);
    if (!src) return label('[Voice]');
    const audio = el('audio', {controls: true, preload: 'metadata', src,
                               'data-testid': 'msg-audio',
                               title: p.second ? `Voice message, ${duration(p.second)}` : 'Voice message'});
    return el('span', {className: 'msg-media'}, audio);
  }

  function video(p, local) {
    const src = safeUrl(p.videoUrl || p.remoteVideoUrl, local);
    if (!src) return label('[Video]');
    const poster = safeUrl(p.thumbUrl || p.snapshotUrl, local);
    const player = el('video', {controls: true, preload: 'metadata', src, poster: poster || null,
                                className: 'msg-video', 'data-testid': 'msg-video'});
    // Its box is fixed before anything loads (the cover's shape, else 16:9 in 320 x 240),
    // so the list below does not move when the player learns the video's size.
    const w = Number(p.thumbWidth);
    const h = Number(p.thumbHeight);
    const scale = w > 0 && h > 0 ? Math.min(320 / w, 240 / h, 1) : 0;
    player.setAttribute('width', String(scale ? Math.max(1, Math.round(w * scale)) : 320));
    player.setAttribute('height', String(scale ? Math.max(1, Math.round(h * scale)) : 180));
    return player;
  }

  function file(p) {
    const name = typeof p.fileName === 'string' && p.fileName ? p.fileName : 'file';
    const href = safeUrl(p.url || p.fileUrl || p.remoteFileUrl);  // object URLs: no link
    const box = el('span', {className: 'msg-file', 'data-testid': 'msg-file'},
      el('span', {className: 'msg-file-icon', 'aria-hidden': 'true',
                  text: (/\.([a-z0-9]{1,4})$/i.exec(name) || [null, 'file'])[1].toUpperCase()}),
      el('span', {className: 'msg-file-name', 'data-testid': 'msg-file-name', text: name}),
      el('span', {className: 'msg-file-size muted', 'data-testid': 'msg-file-size',
                  text: humanSize(p.fileSize)}));
    if (href) {
      box.append(el('a', {href, download: name, rel: 'noopener', className: 'msg-file-download',
                          'data-testid': 'msg-file-download', text: 'Download'}));
    }
    return box;
  }

  function location(p) {
    const lat = p.latitude;
    const lon = p.longitude;
    const valid = typeof lat === 'number' && typeof lon === 'number' && Number.isFinite(lat)
      && Number.isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
    const box = el('span', {className: 'msg-location', 'data-testid': 'msg-location'},
      el('span', {className: 'msg-location-pin', 'aria-hidden': 'true'}),
      el('span', {className: 'msg-location-desc', 'data-testid': 'msg-location-desc',
                  text: typeof p.description === 'string' && p.description
                    ? p.description : 'Location'}));
    if (valid) {
      const la = lat.toFixed(5);
      const lo = lon.toFixed(5);
      const href = `https://www.openstreetmap.org/?mlat=${la}&mlon=${lo}#map=16/${la}/${lo}`;
      box.append(el('span', {className: 'muted', text: `${la}, ${lo}`}),
        el('a', {href, target: '_blank', rel: 'noopener noreferrer',
                 'data-testid': 'msg-location-link', text: 'Open map'}));
    }
    return box;
  }

  function face(p) {
    const name = faceName(p);
    if (!name) {
      const data = typeof p.data === 'string' && p.data ? ` ${p.data}` : '';
      return el('span', {className: 'msg-label', 'data-testid': 'msg-face-unknown',
                         text: `[Sticker${data}]`});
    }
    return el('img', {className: 'msg-face', alt: name, title: name, src: faceUrl(name),
                      'data-testid': 'msg-face', 'data-face': name});
  }

  function custom(p) {
    const desc = typeof p.description === 'string' && p.description ? p.description : '';
    const box = el('span', {className: 'msg-custom', 'data-testid': 'msg-custom'},
      el('span', {className: desc ? 'msg-custom-desc' : 'msg-label',
                  'data-testid': 'msg-custom-desc', text: desc || '[Custom message]'}));
    const hasData = (typeof p.data === 'string' && p.data)
      || (typeof p.extension === 'string' && p.extension);
    if (hasData) {
      const pre = el('pre', {className: 'msg-custom-data', 'data-testid': 'msg-custom-data',
                             hidden: true});
      pre.textContent = [p.data ? `data: ${p.data}` : '',
                         p.extension ? `extension: ${p.extension}` : '']
        .filter(Boolean).join('\n');
      const toggle = el('button', {type: 'button', className: 'link-button',
                                   'data-testid': 'msg-custom-toggle', text: 'Show data'});
      toggle.addEventListener('click', () => {
        pre.hidden = !pre.hidden;
        toggle.textContent = pre.hidden ? 'Show data' : 'Hide data';
      });
      box.append(toggle, pre);
    }
    return box;
  }

  function relay(p, message, ctx) {
    const title = typeof p.title === 'string' && p.title ? p.title : 'Chat history';
    const lines = (Array.isArray(p.abstractList) ? p.abstractList : [])
      .filter((a) => typeof a === 'string').slice(0, 4);
    const count = Array.isArray(p.messageList) ? p.messageList.length : 0;
    const card = el('button', {type: 'button', className: 'msg-merged',
                               'data-testid': 'msg-merged'},
      el('span', {className: 'msg-merged-title', 'data-testid': 'msg-merged-title', text: title}),
      ...lines.map((line) => el('span', {className: 'msg-merged-line',
                                         'data-testid': 'msg-merged-line', text: line})),
      el('span', {className: 'msg-merged-foot muted',
                  text: count ? `Chat history · ${count} message${count === 1 ? '' : 's'}`
                    : 'Chat history'}));
    card.addEventListener('click', () => openMerged(title, p, message, ctx));
    return card;
  }

  function element(elem, message, ctx) {
    const p = (elem && elem.payload && typeof elem.payload === 'object') ? elem.payload : {};
    // A file this page is sending has object URLs until its upload is done.
    const local = !!message && (message.status === 'unSend' || message.status === 'fail')
      && message.flow === 'out';
    switch (elem && elem.type) {
      case 'TIMTextElem':
        // dir=auto: a text in Arabic or Hebrew is laid out right to left.
        return el('span', {className: 'msg-text', dir: 'auto',
                           text: typeof p.text === 'string' ? p.text : ''});
      case 'TIMImageElem': return image(p, local);
      case 'TIMSoundElem': return sound(p, local);
      case 'TIMVideoFileElem': return video(p, local);
      case 'TIMFileElem': return file(p);
      case 'TIMLocationElem': return location(p);
      case 'TIMFaceElem': return face(p);
      case 'TIMCustomElem': return custom(p);
      case 'TIMRelayElem': return relay(p, message, ctx);
      default: return label('[Unsupported message]');
    }
  }

  /** The bubble's content for a message (recalled ones show that they were). */
  function content(message, ctx = {}) {
    const frag = document.createDocumentFragment();
    if (message.isRevoked) {
      frag.append(label('[Message recalled]'));
      return frag;
    }
    for (const elem of elementsOf(message)) frag.append(element(elem, message, ctx));
    return frag;
  }

  /** A system notice (isSystemMessage: sent by the operators, messaging/admin_send.py)
   *  as a list item: a centred notice across the chat, not a bubble from a person (no
   *  sender, avatar or side). Its content is drawn as any message's, so a custom
   *  element shows its description. `time` is the text of its time. */
  function notice(message, ctx = {}, time = '') {
    return el('li', {
      className: 'msg-system',
      role: 'note',
      'aria-label': 'System notice',
      'data-testid': 'message',
      'data-system': 'true',
      'data-message-id': message.ID,
      'data-flow': message.flow,
      'data-status': message.status || 'success',
      'data-type': message.type || '',
    },
    el('span', {className: 'msg-system-tag', text: 'Notice'}),
    el('div', {className: 'msg-system-body', 'data-testid': 'msg-system-body'},
      content(message, ctx)),
    el('time', {className: 'msg-system-time', text: time}));
  }

  // --- the merged list dialog --------------------------------------------------------

  function dialog(title, testid) {
    const close = el('button', {type: 'button', className: 'dialog-close',
                                'data-testid': 'dialog-close', 'aria-label': 'Close', text: '×'});
    const body = el('div', {className: 'dialog-body'});
    const node = el('dialog', {className: 'parley-dialog', 'data-testid': testid},
      el('header', {className: 'dialog-head'}, el('h3', {text: title}), close), body);
    close.addEventListener('click', () => node.close());
    node.addEventListener('close', () => node.remove());
    document.body.append(node);
    node.showModal();
    return {node, body};
  }

  async function openMerged(title, payload, message, ctx) {
    const {body} = dialog(title, 'merged-dialog');
    const status = el('p', {className: 'muted', 'data-testid': 'merged-status', text: 'Loading…'});
    body.append(status);
    let list = Array.isArray(payload.messageList) && payload.messageList.length
      ? payload.messageList : null;
    if (!list) {
      try {
        if (!ctx.chat || typeof ctx.chat.downloadMergerMessage !== 'function') {
          throw Object.assign(new Error('this page cannot download chat histories'), {code: ''});
        }
        // Tencent's SDK takes the message; a nested merged message is passed as a
        // message made of its element.
        const target = message && message.ID && elementsOf(message)[0]
          && elementsOf(message)[0].payload === payload
          ? message : {type: 'TIMRelayElem', payload, elements: [{type: 'TIMRelayElem', payload}]};
        await ctx.chat.downloadMergerMessage(target);  // fills payload.messageList in
        list = Array.isArray(payload.messageList) ? payload.messageList : [];
      } catch (err) {
        status.textContent = `Could not load the chat history: ${
          (root.ParleyWords && root.ParleyWords.errorWords(err)) || (err && err.message) || 'error'}`;
        status.dataset.kind = 'error';
        return;
      }
    }
    status.remove();
    const items = list.filter((m) => m && typeof m === 'object').map((m) => el('li', {
      className: 'merged-item', 'data-testid': 'merged-item'},
    el('div', {className: 'merged-item-head'},
      el('strong', {text: senderOf(m)}), el('span', {className: 'muted', text: timeOf(m)})),
    el('div', {className: 'merged-item-body'}, content(
      {isRevoked: false, elements: elementsOf(m), ID: ''}, ctx))));
    body.append(el('ol', {className: 'merged-list', 'data-testid': 'merged-list'}, ...items));
    if (!items.length) body.append(el('p', {className: 'muted', text: 'The list is empty.'}));
  }

  root.ParleyRender = {notice, FACES, faceUrl, faceName, safeUrl, humanSize, elementText, messageText,
                       elementsOf, content, dialog};
})(typeof window !== 'undefined' ? window : globalThis);
