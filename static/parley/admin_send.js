// The operator console's Send page (messaging/admin_send.py, templates/admin/messaging/
// send.html): shows the fields the chosen mode, target and message type use. The others
// stay in the form, hidden; the server reads only what the choices need, so the page
// works the same without this script.
(function () {
  'use strict';

  const form = document.querySelector('[data-testid="send-form"]');
  if (!form) return;
  const custom = (v) => v.kind === 'custom';
  const location = (v) => v.kind === 'location';
  const notAudience = (v) => v.target !== 'audience';
  const SHOWN = {
    sender: (v) => v.mode === 'user',
    to: (v) => v.target === 'one',
    to_list: (v) => v.target === 'list',
    audience: (v) => v.target === 'audience',
    audience_values: (v) => v.target === 'audience' && v.audience !== 'everyone',
    text: (v) => v.kind === 'text',
    custom_data: custom,
    custom_data_is_json: custom,
    custom_description: custom,
    custom_extension: custom,
    upload: (v) => v.kind === 'image' || v.kind === 'file',
    location_description: location,
    longitude: location,
    latitude: location,
    no_unread: notAudience,
    no_last_message: notAudience,
  };

  function update() {
    const data = new FormData(form);
    const v = {mode: data.get('mode'), target: data.get('target'), kind: data.get('kind'),
               audience: data.get('audience')};
    for (const [name, shown] of Object.entries(SHOWN)) {
      const row = form.querySelector(`[data-field="${name}"]`);
      if (row) row.hidden = !shown(v);
    }
  }

  form.addEventListener('change', update);
  update();
})();
