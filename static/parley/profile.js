/*
 * My profile page (templates/relationships/profile.html): nick, avatar URL, gender,
 * self signature and who may add me. Only changed fields are sent; the server's
 * errors (40601 too long, 40605 not allowed) show under the field they name.
 */
(function () {
  'use strict';

  const {$, el, errorText, avatar, setStatus} = ParleyUI;
  const EVENT = ParleyChat.EVENT;

  // Web SDK field name -> the form control.
  const FIELDS = {
    nick: 'profile-nick',
    avatar: 'profile-avatar',
    gender: 'profile-gender',
    selfSignature: 'profile-signature',
    allowType: 'profile-allow-type',
  };

  const state = {saved: null, saving: false, myID: ''};
  let chat;

  function formValues() {
    const out = {};
    for (const [name, id] of Object.entries(FIELDS)) out[name] = $(id).value;
    return out;
  }

  function changes() {
    const now = formValues();
    const out = {};
    for (const name of Object.keys(FIELDS)) {
      if (!state.saved || now[name] !== (state.saved[name] ?? '')) out[name] = now[name];
    }
    return out;
  }

  function fill(profile) {
    state.saved = {};
    for (const [name, id] of Object.entries(FIELDS)) {
      const value = typeof profile[name] === 'string' ? profile[name] : '';
      state.saved[name] = value;
      const control = $(id);
      if (control.tagName === 'SELECT' && value
          && !Array.from(control.options).some((o) => o.value === value)) {
        control.append(el('option', {value, text: value}));
      }
      control.value = value;
    }
    preview();
    $('profile-fields').disabled = false;
  }

  function preview() {
    const url = $('profile-avatar').value.trim();
    $('profile-avatar-preview').replaceChildren(avatar(url, $('profile-nick').value || state.myID));
  }

  function clearErrors() {
    for (const name of Object.keys(FIELDS)) {
      setStatus($(`error-${name}`), '');
      $(FIELDS[name]).closest('.field').classList.remove('has-error');
      $(FIELDS[name]).removeAttribute('aria-invalid');
    }
    setStatus($('profile-error'), '');
  }

  /** The server's message names the field first ("nick is longer than ..."). */
  function showError(err) {
    const message = (err && err.message) || '';
    const field = Object.keys(FIELDS).find((name) => message.startsWith(`${name} `));
    if (field) {
      setStatus($(`error-${field}`), errorText(err), 'error');
      $(FIELDS[field]).closest('.field').classList.add('has-error');
      $(FIELDS[field]).setAttribute('aria-invalid', 'true');
    }
    setStatus($('profile-error'), `Not saved: ${errorText(err)}`, 'error');
  }

  async function save() {
    if (state.saving) return;
    clearErrors();
    const data = changes();
    if (!Object.keys(data).length) {
      setStatus($('profile-status'), 'Nothing to save.', 'ok');
      return;
    }
    state.saving = true;
    $('profile-save').disabled = true;
    setStatus($('profile-status'), 'Saving…');
    try {
      const {data: profile} = await chat.updateMyProfile(data);
      fill(profile);
      setStatus($('profile-status'), 'Saved.', 'ok');
    } catch (err) {
      setStatus($('profile-status'), '');
      showError(err);
    } finally {
      state.saving = false;
      $('profile-save').disabled = false;
    }
  }

  ParleyUI.start((c, config) => {
    chat = c;
    state.myID = config.userID;
    chat.on(EVENT.SDK_READY, async () => {
      if (state.saved) return;  // a reconnect: PROFILE_UPDATED brings any change
      try {
        fill((await chat.getMyProfile()).data);
      } catch (err) {
        setStatus($('profile-error'), `Could not load your profile: ${errorText(err)}`, 'error');
      }
    });
    chat.on(EVENT.PROFILE_UPDATED, (event) => {
      const mine = (event.data || []).find((p) => p && p.userID === state.myID);
      if (!mine || !state.saved || state.saving) return;
      // Changed elsewhere: take it, unless there are edits here not saved yet.
      if (Object.keys(changes()).length) {
        setStatus($('profile-status'), 'Your profile was changed elsewhere; saving will overwrite it.');
        return;
      }
      fill(Object.assign({}, state.saved, mine));
    });
    $('profile-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      save();
    });
    $('profile-reset').addEventListener('click', () => {
      if (state.saved) fill(state.saved);
      clearErrors();
      setStatus($('profile-status'), '');
    });
    $('profile-avatar').addEventListener('change', preview);  // not per keystroke: each is a fetch
    $('profile-nick').addEventListener('input', () => setStatus($('profile-status'), ''));
  });
})();
