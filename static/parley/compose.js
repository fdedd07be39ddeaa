/*
 * The chat page's composer tools and message actions, on top of chat.js:
 * - attach (image, audio, video or file, chosen by MIME type), drag and drop onto the
 *   chat, paste of images; each upload shows a progress bar with Cancel in its bubble;
 * - the emoji picker (inserts into the text) and the sticker set (sends a face message);
 * - share a location: a typed place and coordinates, or the browser's position;
 * - on a message: copy, edit (own text), delete for me, recall (while the window is
 *   open), forward; select several and forward them one by one or as a chat history;
 * - what a failed send says: words a person can act on (ParleyWords), Retry only when
 *   retrying can help, Dismiss always.
 *
 *   const tools = ParleyCompose.attach({chat, config, current, conversations, insert,
 *                                       remove, deliver, nodeOf, showError, clearError,
 *                                       peerName});
 *
 * All user-provided text goes into the page through textContent, never innerHTML.
 */
(function (root) {
  'use strict';

  const el = root.ParleyUI.el;
  const R = root.ParleyRender;
  const $ = (id) => document.getElementById(id);

  // --- error words --------------------------------------------------------------------

  // code -> [words, whether sending the same message again can ever succeed]
  const WORDS = {
    20003: [(p) => `There is no user ${p}.`, false],
    20006: [() => 'The server refused this message.', false],
    20007: [(p) => `${p} has blocked you, so your messages are not delivered.`, false],
    20009: [(p) => `You can message ${p} once you are friends.`, false],
    20010: [(p) => `You can message ${p} once you are friends.`, false],
    20011: [(p) => `You can message ${p} once you are friends.`, false],
    20012: [() => 'You are muted and cannot send messages right now.', false],
    20016: [() => 'Too late to recall: messages can be recalled only shortly after sending.', false],
    20022: [() => 'That message no longer exists.', false],
    20028: [() => 'The message was changed meanwhile; try again.', true],
    80001: [() => 'The message was refused by content moderation.', false],
    80002: [() => 'The message is too long.', false],
    80003: [() => 'The server refused this message.', false],
    80004: [() => 'The image was refused by content moderation.', false],
    90010: [() => 'This message cannot be sent: the server does not accept its content.', false],
    93000: [() => 'The message is too long (at most 12 KB). Shorten it or send it as a file.', false],
    910003: [() => 'This message cannot be sent as it is.', false],
    910005: [() => 'Too many uploads in a minute; wait a little and retry.', true],
    910006: [() => 'The file is too large.', false],
    910007: [() => 'The file is not an image Parley accepts (JPEG, PNG, GIF, BMP or WebP).', false],
    910011: [() => 'You have used up today\'s upload allowance.', false],
    910012: [() => 'The image has too many pixels.', false],
    910201: [() => 'The connection ended before the server answered; retry.', true],
    910202: [() => 'No answer from the server in time; check your connection and retry.', true],
    910503: [() => 'The server is busy; retry in a moment.', true],
    20005: [() => 'The server had a problem; retry in a moment.', true],
    910013: [() => 'Too many messages to send as one chat history (at most 300).', false],
    910014: [() => 'These messages are too large to send as one chat history.', false],
    910203: [() => 'The upload was cancelled.', false],
    // the SDK's codes (Tencent's table) for a file refused or failing before the send
    2108: [() => 'The file is empty.', false],
    2251: [() => 'Choose a file to send.', false],
    2401: [() => 'Choose a file to send.', false],
    2252: [() => 'The file is not an image Parley accepts (JPEG, PNG, GIF, BMP or WebP).', false],
    2352: [() => 'The file is not a video.', false],
    2253: [() => 'The image is too large (at most 28 MB).', false],
    2301: [() => 'The audio file is too large (at most 28 MB).', false],
    2351: [() => 'The video is too large (at most 100 MB).', false],
    2402: [() => 'The file is too large (at most 100 MB).', false],
    2300: [() => 'The upload failed; check your connection and retry.', true],
    2350: [() => 'The upload failed; check your connection and retry.', true],
    2400: [() => 'The upload failed; check your connection and retry.', true],
    2453: [() => 'This message cannot be forwarded (it was not sent, or was recalled).', false],
  };
  // Codes the SDK may use for a file refused before its upload (size, type).
  const TOO_LARGE = /too large|too big|exceeds|larger than/i;

  /** {text, detail, permanent} for an error of a send or an action. */
  function explain(err, peer) {
    const code = err && err.code !== undefined && err.code !== null && err.code !== ''
      ? Number(err.code) : null;
    const raw = (err && err.message) || 'error';
    const detail = code !== null ? `${code}: ${raw}` : raw;
    const known = code !== null && WORDS[code];
    if (known) return {text: known[0](peer || 'this user'), detail, permanent: !known[1]};
    if (TOO_LARGE.test(raw)) return {text: 'The file is too large.', detail, permanent: true};
    // Any other code: the words every page uses (ui.js), and Retry offered.
    if (root.ParleyUI.errorWords) {
      return {text: root.ParleyUI.errorWords(err), detail, permanent: false};
    }
    const text = raw.charAt(0).toUpperCase() + raw.slice(1);
    return {text: /[.!?]$/.test(text) ? text : `${text}.`, detail, permanent: false};
  }

  function errorWords(err, peer) {
    return explain(err, peer).text;
  }

  root.ParleyWords = {explain, errorWords};

  // --- the toolbar's content ----------------------------------------------------------

  const EMOJI = ['😀', '😂', '😊', '😍', '😘', '😉', '😎', '🤔', '😅', '😢', '😭', '😡',
                 '😱', '😴', '🙄', '🤗', '👍', '👎', '👏', '🙏', '💪', '👋', '🤝', '✌️',
                 '❤️', '💔', '🔥', '🎉', '🎂', '🌹', '☕', '🍺', '⭐', '✅', '❌', '❓'];
  const IMAGE_TYPES = /^image\/(jpeg|jpg|pjpeg|png|gif|bmp|x-ms-bmp|webp)$/i;
  const CREATORS = {image: 'createImageMessage', sound: 'createAudioMessage',
                    video: 'createVideoMessage', file: 'createFileMessage'};

  function kindOf(file) {
    const type = (file && file.type) || '';
    if (IMAGE_TYPES.test(type)) return 'image';
    if (type.startsWith('audio/')) return 'sound';
    if (type.startsWith('video/')) return 'video';
    return 'file';
  }

  function attach(api) {
    const {chat, config} = api;
    const recallSeconds = Number(config.recallSeconds) > 0 ? Number(config.recallSeconds) : 120;
    const uploads = new WeakMap();  // message -> {percent, cancelled}
    const failures = new WeakMap();  // message -> its send error
    const drafts = new WeakMap();  // text message -> its text, kept if the send fails
    const selected = new Map();  // message ID -> message, while selecting
    let selecting = false;
    let activeID = null;  // the message whose actions a tap showed
    // Messages whose Delete was clicked once ("Delete for me?"): ID -> its timer. Kept
    // here, not on the button, so a message drawn again (read, edited, sent) stays armed.
    const armed = new Map();
    const ARMED_MS = 4000;

    const els = {
      view: $('chat-view'),
      pane: $('chat-pane'),
      list: $('message-list'),
      scroll: $('message-scroll'),
      input: $('message-input'),
      attachButton: $('attach-button'),
      attachInput: $('attach-input'),
      emojiButton: $('emoji-button'),
      emojiPanel: $('emoji-panel'),
      faceButton: $('face-button'),
      facePanel: $('face-panel'),
      locationButton: $('location-button'),
      selectBar: $('select-bar'),
      selectCount: $('select-count'),
      toast: $('compose-toast'),
    };

    function peer() {
      const cur = api.current();
      return cur ? cur.peerID : '';
    }

    /** The open chat's peer as errors name them: the nick, else the UserID. */
    function peerLabel() {
      const cur = api.current();
      return cur ? api.peerName(cur.conversationID) : '';
    }

    function toast(text) {
      els.toast.textContent = text;
      els.toast.hidden = false;
      clearTimeout(toast.timer);
      toast.timer = setTimeout(() => { els.toast.hidden = true; }, 4000);
    }

    /** Show a message in the open conversation and send it (chat.js's deliver). */
    function sendInCurrent(message) {
      const cur = api.current();
      if (!cur) return;
      api.insert(cur, message);
      api.scrollToBottom();
      api.deliver(message, cur);
    }

    function create(method, payload, extra) {
      try {
        return chat[method](Object.assign({to: peer(), conversationType: 'C2C', payload}, extra));
      } catch (err) {
        api.showError(err);
        return null;
      }
    }

    // --- files ------------------------------------------------------------------------

    async function sendFiles(files) {
      const cur = api.current();
      if (!cur) return;
      api.clearError();  // a new send: the last one's refusal is not about it
      for (const file of Array.from(files || [])) {
        const kind = kindOf(file);
        const state = {percent: 0, cancelled: false};
        let message = null;
        const onProgress = (fraction) => {  // Tencent's: 0..1
          state.percent = Math.max(0, Math.min(100, Number(fraction) * 100 || 0));
          const node = message && api.nodeOf(message);
          const bar = node && node.querySelector('progress');
          if (bar) bar.value = state.percent;
        };
        // A voice message or video carries its length; a video its first frame as cover.
        const info = kind === 'sound' || kind === 'video' ? await mediaInfo(file, kind) : {};
        if (api.current() !== cur) return;  // the person went to another chat meanwhile
        const payload = {file};
        if (info.second) payload.second = info.second;
        if (info.thumb) payload.thumb = info.thumb;
        message = create(CREATORS[kind], payload, {onProgress});
        if (!message) continue;
        uploads.set(message, state);
        sendInCurrent(message);
      }
    }

    /** {second, thumb?} of an audio or video file, read by the browser (best effort:
     *  {} when it cannot play the file, or takes over 3 s). */
    function mediaInfo(file, kind) {
      return new Promise((resolve) => {
        const url = URL.createObjectURL(file);
        const media = document.createElement(kind === 'video' ? 'video' : 'audio');
        const info = {};
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          media.removeAttribute('src');
          media.load();
          URL.revokeObjectURL(url);
          resolve(info);
        };
        const timer = setTimeout(finish, 3000);
        media.preload = 'auto';
        media.muted = true;
        media.addEventListener('error', finish);
        const cover = () => {  // a video's first frame, as a PNG
          if (kind !== 'video' || !media.videoWidth) { finish(); return; }
          media.addEventListener('seeked', () => {
            const scale = Math.min(1, 480 / Math.max(media.videoWidth, media.videoHeight));
            const canvas = document.createElement('canvas');
            canvas.width = Math.max(1, Math.round(media.videoWidth * scale));
            canvas.height = Math.max(1, Math.round(media.videoHeight * scale));
            try {
              canvas.getContext('2d').drawImage(media, 0, 0, canvas.width, canvas.height);
              canvas.toBlob((blob) => {
                if (blob && blob.size) info.thumb = new File([blob], 'cover.png', {type: 'image/png'});
                finish();
              }, 'image/png');
            } catch (err) {
              finish();
            }
          }, {once: true});
          media.currentTime = Math.min(0.1, (media.duration || 1) / 2) || 0;
        };
        const measure = () => {
          if (Number.isFinite(media.duration) && media.duration > 0) {
            info.second = Math.max(1, Math.round(media.duration));
          }
        };
        media.addEventListener('loadedmetadata', () => {
          if (media.duration !== Infinity) {
            measure();
            cover();
            return;
          }
          // A browser's own recording (MediaRecorder's WebM) states no duration: a seek
          // past its end makes the browser read it through and learn it.
          const learnt = () => {
            if (!Number.isFinite(media.duration)) return;
            media.removeEventListener('durationchange', learnt);
            measure();
            if (media.seeking) media.addEventListener('seeked', cover, {once: true});
            else cover();
          };
          media.addEventListener('durationchange', learnt);
          media.currentTime = Number.MAX_SAFE_INTEGER;
        }, {once: true});
        media.src = url;
      });
    }

    function cancelUpload(message) {
      const state = uploads.get(message);
      if (!state) return;
      state.cancelled = true;
      // Its sendMessage then rejects with 910203; once uploaded, it is too late.
      if (!chat.cancelUploadMessage(message)) {
        state.cancelled = false;
        return;
      }
      const cur = api.current();
      if (cur) api.remove(cur, message.ID, message);
    }

    els.attachButton.addEventListener('click', () => els.attachInput.click());
    els.attachInput.addEventListener('change', () => {
      sendFiles(els.attachInput.files);
      els.attachInput.value = '';
    });

    let dragDepth = 0;
    els.pane.addEventListener('dragenter', (ev) => {
      if (!api.current() || !hasFiles(ev)) return;
      dragDepth += 1;
      els.pane.classList.add('is-drop-target');
    });
    els.pane.addEventListener('dragleave', () => {
      dragDepth = Math.max(0, dragDepth - 1);
      if (!dragDepth) els.pane.classList.remove('is-drop-target');
    });
    els.pane.addEventListener('dragover', (ev) => {
      if (api.current() && hasFiles(ev)) ev.preventDefault();
    });
    els.pane.addEventListener('drop', (ev) => {
      dragDepth = 0;
      els.pane.classList.remove('is-drop-target');
      if (!api.current() || !hasFiles(ev)) return;
      ev.preventDefault();
      sendFiles(ev.dataTransfer.files);
    });
    els.input.addEventListener('paste', (ev) => {
      const files = Array.from((ev.clipboardData && ev.clipboardData.files) || [])
        .filter((f) => IMAGE_TYPES.test(f.type));
      if (!files.length) return;
      ev.preventDefault();
      sendFiles(files);
    });

    function hasFiles(ev) {
      return !!(ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes('Files'));
    }

    // --- emoji and stickers -----------------------------------------------------------

    function togglePanel(panel, button) {
      const open = panel.hidden;
      for (const p of [els.emojiPanel, els.facePanel]) p.hidden = true;
      panel.hidden = !open;
      button.setAttribute('aria-expanded', String(open));
    }

    for (const emoji of EMOJI) {
      const b = el('button', {type: 'button', className: 'emoji', 'data-testid': 'emoji',
                              title: emoji, text: emoji});
      b.addEventListener('click', () => insertText(emoji));
      els.emojiPanel.append(b);
    }
    R.FACES.forEach((name, index) => {
      const b = el('button', {type: 'button', className: 'face', 'data-testid': `face-${name}`,
                              title: name},
      el('img', {src: R.faceUrl(name), alt: name}));
      b.addEventListener('click', () => {
        els.facePanel.hidden = true;
        api.clearError();
        const message = create('createFaceMessage', {index, data: name});
        if (message) sendInCurrent(message);
      });
      els.facePanel.append(b);
    });
    els.emojiButton.addEventListener('click', () => togglePanel(els.emojiPanel, els.emojiButton));
    els.faceButton.addEventListener('click', () => togglePanel(els.facePanel, els.faceButton));
    const closePanels = () => {
      els.emojiPanel.hidden = true;
      els.facePanel.hidden = true;
      els.emojiButton.setAttribute('aria-expanded', 'false');
      els.faceButton.setAttribute('aria-expanded', 'false');
    };
    document.addEventListener('click', (ev) => {
      if (!ev.target.closest('.composer-tools')) closePanels();
    });
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && (!els.emojiPanel.hidden || !els.facePanel.hidden)) closePanels();
    });

    function insertText(text) {
      const input = els.input;
      const start = input.selectionStart ?? input.value.length;
      const end = input.selectionEnd ?? input.value.length;
      input.setRangeText(text, start, end, 'end');
      input.dispatchEvent(new Event('input', {bubbles: true}));
      input.focus();
    }

    // --- location ---------------------------------------------------------------------

    function parseCoordinates(text) {
      const m = /^\s*(-?\d+(?:\.\d+)?)\s*[,;\s]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text || '');
      if (!m) return null;
      const lat = Number(m[1]);
      const lon = Number(m[2]);
      if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
      return {lat, lon};
    }

    els.locationButton.addEventListener('click', () => {
      if (!api.current()) return;
      const {node, body} = R.dialog('Share a location', 'location-dialog');
      const place = el('input', {id: 'location-place', 'data-testid': 'location-place',
                                 maxlength: '200', placeholder: 'e.g. Café Central, Vienna'});
      const coords = el('input', {id: 'location-coords', 'data-testid': 'location-coords',
                                  placeholder: 'latitude, longitude (e.g. 48.2104, 16.3655)'});
      const status = el('p', {className: 'form-status', 'data-testid': 'location-status',
                              role: 'status'});
      const here = el('button', {type: 'button', 'data-testid': 'location-here',
                                 text: 'Use my position'});
      const send = el('button', {type: 'submit', className: 'primary',
                                 'data-testid': 'location-send', text: 'Send location'});
      const form = el('form', {className: 'dialog-form'},
        el('label', {for: 'location-place', text: 'Place'}), place,
        el('label', {for: 'location-coords', text: 'Coordinates'}), coords,
        el('div', {className: 'dialog-actions'}, here, send), status);
      body.append(form);
      here.hidden = !navigator.geolocation;
      here.addEventListener('click', () => {
        status.textContent = 'Asking the browser for your position…';
        navigator.geolocation.getCurrentPosition((pos) => {
          coords.value = `${pos.coords.latitude.toFixed(6)}, ${pos.coords.longitude.toFixed(6)}`;
          if (!place.value) place.value = 'My position';
          status.textContent = '';
        }, (err) => {
          status.textContent = err && err.code === 1
            ? 'The browser did not allow access to your position; type the coordinates.'
            : 'Your position is not available; type the coordinates.';
        }, {timeout: 15000, maximumAge: 60000});
      });
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const at = parseCoordinates(coords.value);
        if (!at) {
          status.textContent = 'Type the coordinates as latitude, longitude (e.g. 48.2104, 16.3655).';
          return;
        }
        api.clearError();
        const message = create('createLocationMessage', {
          description: place.value.trim(), latitude: at.lat, longitude: at.lon});
        if (!message) return;
        node.close();
        sendInCurrent(message);
      });
      place.focus();
    });

    // --- forwarding -------------------------------------------------------------------

    /** Ask where to forward; resolves a UserID, or null when the person cancels. */
    function pickTarget(title) {
      return new Promise((resolve) => {
        const {node, body} = R.dialog(title, 'forward-dialog');
        let chosen = null;
        const list = el('ul', {className: 'forward-list', 'data-testid': 'forward-list'});
        for (const conv of api.conversations()) {
          const userID = conv.conversationID.slice(3);
          const nick = conv.userProfile && conv.userProfile.nick;
          const b = el('button', {type: 'button', className: 'forward-target',
                                  'data-testid': 'forward-target', 'data-user-id': userID},
          el('span', {text: nick || userID}),
          nick && nick !== userID ? el('span', {className: 'muted', text: ` ${userID}`}) : null);
          b.addEventListener('click', () => { chosen = userID; node.close(); });
          list.append(el('li', {}, b));
        }
        const input = el('input', {id: 'forward-user', 'data-testid': 'forward-user',
                                   maxlength: '32', placeholder: 'or type a UserID',
                                   autocapitalize: 'none', spellcheck: 'false'});
        const form = el('form', {className: 'dialog-form forward-form'},
          el('label', {for: 'forward-user', className: 'visually-hidden', text: 'UserID'}), input,
          el('button', {type: 'submit', className: 'primary', 'data-testid': 'forward-send',
                        text: 'Forward'}));
        form.addEventListener('submit', (ev) => {
          ev.preventDefault();
          const userID = input.value.trim();
          if (userID) { chosen = userID; node.close(); }
        });
        body.append(list, form);
        node.addEventListener('close', () => resolve(chosen));
        input.focus();
      });
    }

    /** Send a made message to `to`: in the open conversation it shows as any send. */
    async function sendTo(to, message) {
      const cur = api.current();
      if (cur && cur.peerID === to) {
        sendInCurrent(message);
        return true;
      }
      try {
        await chat.sendMessage(message);
        return true;
      } catch (err) {
        const why = explain(err, to);
        api.showError(err, to);
        toast(`Not forwarded to ${to}: ${why.text}`);
        return false;
      }
    }

    async function forwardEach(messages, to) {
      let sent = 0;
      for (const m of messages) {
        let copy;
        try {
          copy = chat.createForwardMessage({to, conversationType: 'C2C', payload: m});
        } catch (err) {
          api.showError(err, to);
          return;
        }
        if (!(await sendTo(to, copy))) return;
        sent += 1;
      }
      toast(`Forwarded ${sent === 1 ? 'a message' : `${sent} messages`} to ${to}.`);
    }

    async function forwardMerged(messages, to) {
      const me = config.nick || config.userID;
      const other = api.peerName(api.current().conversationID);
      const abstractList = messages.slice(0, 3).map(
        (m) => `${m.nick || m.from}: ${R.messageText(m)}`.slice(0, 100));
      let merged;
      try {
        merged = chat.createMergerMessage({to, conversationType: 'C2C', payload: {
          messageList: messages, title: `Chat history of ${me} and ${other}`,
          abstractList, compatibleText: '[Chat history]'}});
      } catch (err) {
        api.showError(err, to);
        return;
      }
      if (await sendTo(to, merged)) toast(`Forwarded the chat history to ${to}.`);
    }

    async function forwardOne(m) {
      const to = await pickTarget('Forward to');
      if (to) forwardEach([m], to);
    }

    // --- selecting several ------------------------------------------------------------

    function setSelecting(on) {
      selecting = on;
      if (!on) selected.clear();
      els.list.classList.toggle('is-selecting', on);
      els.selectBar.hidden = !on;
      for (const box of els.list.querySelectorAll('.msg-select')) {
        box.checked = selected.has(box.dataset.messageId);
      }
      updateCount();
    }

    function updateCount() {
      const n = selected.size;
      els.selectCount.textContent = `${n} selected`;
      for (const b of els.selectBar.querySelectorAll('[data-needs-selection]')) b.disabled = !n;
    }

    function toggleSelected(m, on) {
      if (on) selected.set(m.ID, m);
      else selected.delete(m.ID);
      updateCount();
    }

    function chosenInOrder() {
      const cur = api.current();
      const order = cur ? cur.messages.map((m) => m.ID) : [];
      return Array.from(selected.values())
        .sort((a, b) => order.indexOf(a.ID) - order.indexOf(b.ID));
    }

    $('select-forward-each').addEventListener('click', async () => {
      const messages = chosenInOrder();
      const to = messages.length && await pickTarget('Forward one by one to');
      if (!to) return;
      setSelecting(false);
      forwardEach(messages, to);
    });
    $('select-forward-merged').addEventListener('click', async () => {
      const messages = chosenInOrder();
      const to = messages.length && await pickTarget('Forward as a chat history to');
      if (!to) return;
      setSelecting(false);
      forwardMerged(messages, to);
    });
    $('select-cancel').addEventListener('click', () => setSelecting(false));

    // --- actions on one message -------------------------------------------------------

    // The actions float above a message's top (messages.css); one at the top edge of the
    // scrolling box would have them cut off there, so they go inside its top instead.
    const ACTIONS_RISE = 14;  // px: the 12px they rise, and a little
    function placeActions(ev) {
      const li = ev.target.closest && ev.target.closest('.msg');
      if (!li) return;
      const room = li.getBoundingClientRect().top - els.scroll.getBoundingClientRect().top;
      li.classList.toggle('actions-inside', room < ACTIONS_RISE);
    }
    els.list.addEventListener('mouseover', placeActions);
    els.list.addEventListener('focusin', placeActions);

    function isOwnText(m) {
      const elems = R.elementsOf(m);
      return m.flow === 'out' && !m.isRevoked && m.seq && elems.length === 1
        && elems[0].type === 'TIMTextElem';
    }

    function textOf(m) {
      return R.elementsOf(m).filter((e) => e.type === 'TIMTextElem')
        .map((e) => e.payload.text).join('\n');
    }

    async function copy(m, button) {
      const text = textOf(m) || R.messageText(m);
      try {
        await navigator.clipboard.writeText(text);
      } catch (err) {  // no clipboard permission: the old way
        const area = el('textarea', {className: 'visually-hidden'});
        area.value = text;
        document.body.append(area);
        area.select();
        document.execCommand('copy');
        area.remove();
      }
      button.textContent = 'Copied';
      setTimeout(() => { button.textContent = 'Copy'; }, 1500);
    }

    function startEdit(m, li) {
      const bubble = li.querySelector('.msg-bubble');
      if (!bubble || li.querySelector('.msg-edit')) return;
      let base = m;  // the version the edit started from (a save of an older one: 20028)
      const area = el('textarea', {className: 'msg-edit-input', 'data-testid': 'edit-input',
                                   rows: '2', dir: 'auto'});
      area.value = textOf(m);
      const status = el('span', {className: 'msg-fail', 'data-testid': 'edit-status'});
      const save = el('button', {type: 'submit', className: 'primary', 'data-testid': 'edit-save',
                                 text: 'Save'});
      const cancel = el('button', {type: 'button', 'data-testid': 'edit-cancel', text: 'Cancel'});
      const form = el('form', {className: 'msg-edit'}, area,
        el('div', {className: 'msg-edit-actions'}, cancel, save), status);
      bubble.hidden = true;
      bubble.after(form);
      area.focus();
      const done = () => {  // the bubble beside the form: chat.js may have drawn it again
        const shown = form.parentNode && form.parentNode.querySelector('.msg-bubble');
        form.remove();
        if (shown) shown.hidden = false;
      };
      cancel.addEventListener('click', done);
      area.addEventListener('keydown', (ev) => {
        if (ev.key === 'Escape') done();
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
          ev.preventDefault();
          form.requestSubmit();
        }
      });
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const text = area.value.replace(/\s+$/, '');
        if (!text.trim()) { status.textContent = 'The message cannot be empty.'; return; }
        if (text === textOf(m)) { done(); return; }
        save.disabled = true;
        try {
          const edited = Object.assign({}, base, {payload: {text},
            elements: [{type: 'TIMTextElem', payload: {text}}]});
          const res = await chat.modifyMessage(edited);
          done();  // saved: the form goes before the message is drawn as edited
          const cur = api.current();
          if (cur) api.insert(cur, res.data.message);
        } catch (err) {
          const why = explain(err, peerLabel());
          status.textContent = why.text;
          status.title = why.detail;
          save.disabled = false;
          if (err && err.code === 20028) {
            // Changed elsewhere since the edit began: said once; Save again now writes
            // over the version this page holds now (it used to fail the same way forever).
            const cur = api.current();
            base = (cur && cur.messages.find((x) => x.ID === m.ID)) || base;
          }
        }
      });
    }

    function action(text, testid, onClick) {
      const b = el('button', {type: 'button', className: 'link-button msg-action',
                              'data-testid': testid, text});
      b.addEventListener('click', (ev) => { ev.stopPropagation(); onClick(b); });
      return b;
    }

    function deleteButton(id) {
      return els.list.querySelector(
        `.msg[data-message-id="${CSS.escape(id)}"] [data-testid="delete-message"]`);
    }

    function showArmed(button, on) {
      if (!button) return;
      button.dataset.armed = on ? '1' : '';
      button.textContent = on ? 'Delete for me?' : 'Delete';
    }

    function arm(id) {
      armed.set(id, setTimeout(() => disarm(id), ARMED_MS));
      showArmed(deleteButton(id), true);
    }

    function disarm(id) {
      clearTimeout(armed.get(id));
      armed.delete(id);
      showArmed(deleteButton(id), false);
    }

    /** The action links under a stored message. */
    function actions(m, li) {
      const box = el('span', {className: 'msg-actions'});
      if (m.isRevoked || !m.seq) return box;
      box.append(action('Copy', 'copy-message', (b) => copy(m, b)));
      if (isOwnText(m)) box.append(action('Edit', 'edit-message', () => startEdit(m, li)));
      box.append(action('Forward', 'forward-message', () => forwardOne(m)));
      box.append(action('Select', 'select-message', () => {
        setSelecting(true);
        toggleSelected(m, true);
        const check = li.querySelector('.msg-select');
        if (check) check.checked = true;
      }));
      const del = action('Delete', 'delete-message', () => {
        if (!armed.has(m.ID)) {  // a second click confirms
          arm(m.ID);
          return;
        }
        disarm(m.ID);
        chat.deleteMessage([m]).then(() => {
          const cur = api.current();
          if (cur) api.remove(cur, m.ID, m);
        }, (err) => api.showError(err));
      });
      showArmed(del, armed.has(m.ID));
      box.append(del);
      const left = m.flow === 'out' ? m.time + recallSeconds - Date.now() / 1000 : 0;
      if (left > 0) {
        const recall = action('Recall', 'recall-message', () => {
          chat.revokeMessage(m).then(
            (res) => { const cur = api.current(); if (cur) api.insert(cur, res.data.message); },
            (err) => api.showError(err));
        });
        setTimeout(() => recall.remove(), left * 1000);  // the window closes
        box.append(recall);
      }
      return box;
    }

    /** Draw the parts of a message item only the composer knows: a checkbox while
     *  selecting, an upload's progress, a failure's words, the actions. */
    function decorate(m, li, meta) {
      if (m.seq && !m.isRevoked) {
        const box = el('input', {type: 'checkbox', className: 'msg-select',
                                 'data-testid': 'msg-select', 'data-message-id': m.ID,
                                 'aria-label': 'Select this message'});
        box.checked = selected.has(m.ID);
        box.addEventListener('change', () => toggleSelected(m, box.checked));
        li.prepend(box);
        // While selecting, a click anywhere on the message chooses it: its links and
        // cards do not open (a phone's tap snaps to a link nearby). Players, the
        // actions and an edit keep their clicks.
        li.addEventListener('click', (ev) => {
          if (!selecting || ev.target === box
              || ev.target.closest('audio, video, form, .msg-actions')) return;
          ev.preventDefault();
          ev.stopPropagation();
          box.checked = !box.checked;
          toggleSelected(m, box.checked);
        }, true);
        li.addEventListener('click', (ev) => {
          if (selecting || ev.target === box
              || ev.target.closest('a, button, audio, video, form')) return;
          // On a touch screen a tap shows the message's actions (CSS: hover: none).
          for (const other of els.list.querySelectorAll('.msg.is-active')) {
            if (other !== li) other.classList.remove('is-active');
          }
          activeID = li.classList.toggle('is-active') ? m.ID : null;
        });
        if (m.ID === activeID) li.classList.add('is-active');  // drawn again (e.g. read)
      }
      const upload = uploads.get(m);
      if (upload && m.status === 'unSend') {
        const bar = el('progress', {max: '100', 'data-testid': 'upload-progress'});
        bar.value = upload.percent;
        const cancel = el('button', {type: 'button', className: 'link-button',
                                     'data-testid': 'cancel-upload', text: 'Cancel'});
        cancel.addEventListener('click', () => cancelUpload(m));
        meta.append(el('span', {className: 'msg-upload'}, bar, cancel));
      }
      if (m.status === 'fail') {
        const why = explain(failures.get(m), peerLabel());
        meta.append(el('span', {className: 'msg-fail', 'data-testid': 'send-failed',
                                title: why.detail, text: `Not sent: ${why.text}`}));
        if (!why.permanent) {
          const retry = el('button', {type: 'button', className: 'link-button',
                                      'data-testid': 'retry-send', text: 'Retry'});
          retry.addEventListener('click', () => api.deliver(m, api.current()));
          meta.append(retry);
        }
        const dismiss = el('button', {type: 'button', className: 'link-button',
                                      'data-testid': 'dismiss-failed', text: 'Dismiss'});
        dismiss.addEventListener('click', () => {
          const cur = api.current();
          if (cur) api.remove(cur, m.ID, m);
        });
        meta.append(dismiss);
      }
      if (m.status !== 'unSend' && m.status !== 'fail') meta.append(actions(m, li));
    }

    /** chat.js tells how a send ended: a cancelled upload's bubble goes away (true);
     *  a failed text comes back into the empty composer, so nothing typed is lost. */
    function sendEnded(m, err) {
      const upload = uploads.get(m);
      if (!err) {
        uploads.delete(m);
        failures.delete(m);
        return false;
      }
      if (upload && upload.cancelled) return true;
      failures.set(m, err);
      const text = drafts.get(m);
      if (text && !els.input.value && api.current() && api.current().peerID === m.to) {
        els.input.value = text;
        els.input.dispatchEvent(new Event('input', {bubbles: true}));  // the chat's draft too
      }
      return false;
    }

    function rememberDraft(m, text) {
      drafts.set(m, text);
    }

    return {decorate, sendEnded, rememberDraft, explain, setSelecting,
            get selecting() { return selecting; }};
  }

  root.ParleyCompose = {attach, kindOf, explain};
})(window);
