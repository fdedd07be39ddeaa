/*
 * Reactions on the chat page (chat.js draws the messages; this draws the row under
 * each): a chip per reaction with its count, pressed when it is mine, that takes mine
 * back or adds it when clicked; and a small button that opens a few emoji to react
 * with. What the row shows comes from getMessageReactions when a page of history is
 * loaded and from MESSAGE_REACTIONS_UPDATED after (my own reactions too: the page
 * waits for the event rather than guessing).
 *
 * All text goes into the page through textContent (ParleyUI.el).
 */
(function (root) {
  'use strict';

  // The reactions offered; a reaction ID another client used is shown as it is.
  const CHOICES = [
    ['👍', 'thumbs up'], ['❤️', 'heart'], ['😂', 'laughing'],
    ['😮', 'surprised'], ['😢', 'sad'], ['🎉', 'party'],
  ];
  const NAMES = new Map(CHOICES);

  /**
   * chat: the SDK client; showError(err): tells the person a call failed.
   * Returns {row(m), load(messages), reset(), onUpdated(data)}.
   */
  function attach({chat, showError}) {
    const el = ParleyUI.el;
    const known = new Map();  // messageID -> reactionList, in the order each first came
    const rows = new Map();  // messageID -> its row on the page

    function chipLabel(r) {
      const name = NAMES.get(r.reactionID) || r.reactionID;
      const people = r.totalUserCount === 1 ? '1 person' : `${r.totalUserCount} people`;
      const mine = r.reactedByMyself ? ', including you; press to take yours back'
        : '; press to add yours';
      return `${name}: ${people}${mine}`;
    }

    function whoTitle(r) {
      const names = (r.partialUserList || []).map((u) => u.nick || u.userID);
      const more = r.totalUserCount - names.length;
      return names.join(', ') + (more > 0 ? ` and ${more} more` : '');
    }

    function toggle(m, reactionID, mine, control) {
      // Busy until answered: aria-disabled, not disabled, which would drop the focus.
      if (control.getAttribute('aria-disabled') === 'true') return;
      control.setAttribute('aria-disabled', 'true');
      const call = mine ? chat.removeMessageReaction(m, reactionID)
        : chat.addMessageReaction(m, reactionID);
      call.catch((err) => {
        // Already so (another device of mine got there first): nothing to tell.
        if (err && (err.code === 23007 || err.code === 23008)) return;
        showError(err);
      }).finally(() => { control.removeAttribute('aria-disabled'); });
    }

    function fill(row, m) {
      const chips = [];
      for (const r of known.get(m.ID) || []) {
        if (!r.totalUserCount) continue;
        const chip = el('button', {
          type: 'button', className: 'reaction-chip', 'data-testid': 'reaction-chip',
          'data-reaction-id': r.reactionID, 'aria-pressed': r.reactedByMyself ? 'true' : 'false',
          'aria-label': chipLabel(r), title: whoTitle(r)},
        el('span', {className: 'reaction-emoji', 'aria-hidden': 'true', text: r.reactionID}),
        el('span', {className: 'reaction-count', 'aria-hidden': 'true',
                    text: String(r.totalUserCount)}));
        chip.addEventListener('click', () => toggle(m, r.reactionID, r.reactedByMyself, chip));
        chips.push(chip);
      }
      const picker = row.querySelector('.reaction-picker');
      const add = row.querySelector('.reaction-add');
      // Drawn again under the keyboard's focus: it stays on the same chip, or on "☺+"
      // when that chip went (replaceChildren takes even a kept node out, and its focus).
      const focused = row.contains(document.activeElement) ? document.activeElement : null;
      row.replaceChildren(...chips, add, picker);
      if (!focused || row.contains(document.activeElement)) return;
      if (picker.contains(focused)) {
        focused.focus();
      } else {
        const id = focused.dataset.reactionId;
        const same = focused.classList.contains('reaction-chip')
          && chips.find((c) => c.dataset.reactionId === id);
        (same || add).focus();
      }
    }

    function openPicker(add, picker, open) {
      picker.hidden = !open;
      add.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (open) picker.querySelector('button').focus();
    }

    /** The row of reactions under a stored message (none under an unsent or recalled
     *  one). */
    function row(m) {
      if (!m.seq || m.isRevoked || m.isSystemMessage) {
        rows.delete(m.ID);
        return null;
      }
      const add = el('button', {
        type: 'button', className: 'reaction-add', 'data-testid': 'reaction-add',
        'aria-label': 'Add a reaction', 'aria-haspopup': 'true', 'aria-expanded': 'false',
        title: 'Add a reaction', text: '☺+'});
      const picker = el('div', {className: 'reaction-picker', 'data-testid': 'reaction-picker',
                                role: 'group', 'aria-label': 'Choose a reaction', hidden: true});
      for (const [emoji, name] of CHOICES) {
        const pick = el('button', {type: 'button', className: 'reaction-choice',
                                   'data-testid': 'reaction-choice', 'data-reaction-id': emoji,
                                   'aria-label': `React with ${name}`, title: name, text: emoji});
        pick.addEventListener('click', () => {
          openPicker(add, picker, false);
          add.focus();
          const r = (known.get(m.ID) || []).find((x) => x.reactionID === emoji);
          if (r && r.reactedByMyself) return;  // mine already
          toggle(m, emoji, false, pick);
        });
        picker.append(pick);
      }
      add.addEventListener('click', () => openPicker(add, picker, picker.hidden));
      picker.addEventListener('keydown', (ev) => {
        if (ev.key === 'Escape') {
          ev.stopPropagation();
          openPicker(add, picker, false);
          add.focus();
          return;
        }
        // The arrows, Home and End move between the choices, as in a toolbar (Tab
        // still goes through them one by one).
        const choices = Array.from(picker.querySelectorAll('.reaction-choice'));
        const at = choices.indexOf(document.activeElement);
        const step = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1}[ev.key];
        let next = null;
        if (step && at >= 0) next = choices[(at + step + choices.length) % choices.length];
        if (ev.key === 'Home') next = choices[0];
        if (ev.key === 'End') next = choices[choices.length - 1];
        if (next) {
          ev.preventDefault();
          next.focus();
        }
      });
      const box = el('div', {className: 'msg-reactions', 'data-testid': 'msg-reactions',
                             role: 'group', 'aria-label': 'Reactions'}, add, picker);
      fill(box, m);
      box.message = m;
      rows.set(m.ID, box);
      return box;
    }

    // Events that came while a getMessageReactions call was under way: its answer may
    // be older than they are, so they are applied again over it.
    let loading = 0;
    const meanwhile = [];

    /** Ask the reactions of messages just put on the page, and draw them. */
    async function load(messages) {
      const stored = messages.filter((m) => m.seq && !m.isRevoked && !m.isSystemMessage);
      if (!stored.length) return;
      loading += 1;
      try {
        const {data} = await chat.getMessageReactions({messageList: stored});
        const answered = new Set();
        for (const item of data.resultList || []) {
          known.set(item.messageID, item.reactionList || []);
          answered.add(item.messageID);
        }
        for (const update of meanwhile) {
          if (answered.has(update.messageID)) merge(update);
        }
        for (const id of answered) {
          const box = rows.get(id);
          if (box && box.isConnected) fill(box, box.message);
        }
      } catch (err) {
        console.warn('getMessageReactions failed', err);
      } finally {
        loading -= 1;
        if (!loading) meanwhile.length = 0;
      }
    }

    /** MESSAGE_REACTIONS_UPDATED: each reaction that changed takes its place. */
    function onUpdated(data) {
      if (!data || !data.messageID) return;
      if (loading) meanwhile.push(data);
      merge(data);
      const box = rows.get(data.messageID);
      if (box && box.isConnected) fill(box, box.message);
    }

    function merge(data) {
      const list = (known.get(data.messageID) || []).slice();
      for (const r of data.reactionList || []) {
        const at = list.findIndex((x) => x.reactionID === r.reactionID);
        if (!r.totalUserCount) {
          if (at >= 0) list.splice(at, 1);
        } else if (at >= 0) {
          list[at] = r;
        } else {
          list.push(r);
        }
      }
      known.set(data.messageID, list);
    }

    /** Another conversation opened: what was known goes. */
    function reset() {
      known.clear();
      rows.clear();
    }

    return {row, load, onUpdated, reset};
  }

  root.ParleyReactions = {attach, CHOICES};
})(window);
