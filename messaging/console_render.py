"""A stored message's elements as HTML for the operator console's timeline.

Every value from a message goes through format_html (escaped); a URL is used in an
attribute only if it is http(s) or a path on this server (the element checks allow
nothing else; this checks again, since old rows or imports may predate them). Images
show their thumbnail (linking to the original), sound and video get players (no
preload), files their name, size and a download link, merged messages a card with the
title and abstract.
"""

from __future__ import annotations

import json

from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from chat_project.weburl import link_url


def safe_url(value) -> str:
    return link_url(value) or ""


def _link(url: str, label: str) -> SafeString:
    url = safe_url(url)
    if not url:
        return format_html('<span class="pc-missing">{} (no link)</span>', label)
    return format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>',
                       url, label)


def _text(p: dict) -> SafeString:
    return format_html('<div class="pc-text">{}</div>', p.get("text", ""))


def _face(p: dict) -> SafeString:
    return format_html('<div class="pc-face">[face {}] {}</div>', p.get("index", ""),
                       p.get("data", ""))


def _location(p: dict) -> SafeString:
    lat, lon = p.get("latitude"), p.get("longitude")
    where = ""
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        where = format_html(
            ' <a href="https://www.openstreetmap.org/?mlat={}&amp;mlon={}" '
            'rel="noopener noreferrer" target="_blank">{}, {}</a>', lat, lon, lat, lon)
    return format_html('<div class="pc-location">📍 {}{}</div>', p.get("description", ""),
                       where)


def _custom(p: dict) -> SafeString:
    rows = [(k, p[k]) for k in ("description", "data", "extension", "sound") if p.get(k)]
    return format_html('<dl class="pc-custom"><dt>custom</dt><dd></dd>{}</dl>',
                       format_html_join("", "<dt>{}</dt><dd><pre>{}</pre></dd>", rows))


def _image(p: dict) -> SafeString:
    infos = [i for i in p.get("imageInfoArray", []) if isinstance(i, dict)]
    # Tencent's types: 1 original, 2 large, 3 thumbnail (0: the only one given).
    by_type = {i.get("type"): i for i in infos}
    thumb = by_type.get(3) or by_type.get(2) or (infos[0] if infos else {})
    original = by_type.get(1) or by_type.get(0) or thumb
    src, href = safe_url(thumb.get("url")), safe_url(original.get("url"))
    if not src:
        return format_html('<div class="pc-image pc-missing">[image {}]</div>',
                           p.get("uuid", ""))
    return format_html(
        '<div class="pc-image"><a href="{}" rel="noopener noreferrer" target="_blank">'
        '<img src="{}" alt="image {}" loading="lazy" class="pc-thumb"></a>'
        '<span class="pc-meta">{} {}×{}, {}</span></div>',
        href or src, src, p.get("uuid", ""), p.get("format", ""), original.get("width", 0),
        original.get("height", 0), filesizeformat(original.get("size", 0)))


def _sound(p: dict) -> SafeString:
    url = safe_url(p.get("url"))
    player = format_html('<audio controls preload="none" src="{}"></audio>', url) if url \
        else mark_safe('<span class="pc-missing">(no file)</span>')
    return format_html('<div class="pc-sound">{} <span class="pc-meta">{} s, {}</span></div>',
                       player, p.get("second", 0), filesizeformat(p.get("size", 0)))


def _video(p: dict) -> SafeString:
    url, poster = safe_url(p.get("videoUrl")), safe_url(p.get("thumbUrl"))
    if url:
        player = format_html('<video controls preload="none" src="{}"{} class="pc-video">'
                             '</video>', url,
                             format_html(' poster="{}"', poster) if poster else "")
    else:
        player = mark_safe('<span class="pc-missing">(no file)</span>')
    return format_html('<div class="pc-videobox">{} <span class="pc-meta">{}, {} s, {}</span>'
                       '</div>', player, p.get("videoFormat", ""), p.get("videoSecond", 0),
                       filesizeformat(p.get("videoSize", 0)))


def _file(p: dict) -> SafeString:
    return format_html('<div class="pc-file">📎 {} <span class="pc-meta">{}</span></div>',
                       _link(p.get("url", ""), p.get("fileName", "")),
                       filesizeformat(p.get("fileSize", 0)))


def _relay(p: dict) -> SafeString:
    abstract = [a for a in p.get("abstractList", []) if isinstance(a, str)]
    if "messageList" in p and isinstance(p["messageList"], list):
        held = f"{len(p['messageList'])} message(s) inline"
    else:
        held = "list stored apart (downloadKey)"
    return format_html(
        '<div class="pc-merged"><div class="pc-merged-title">{}</div><ul>{}</ul>'
        '<div class="pc-meta">merged message: {}</div></div>',
        p.get("title", ""), format_html_join("", "<li>{}</li>", ((a,) for a in abstract)),
        held)


RENDERERS = {
    "TIMTextElem": _text, "TIMFaceElem": _face, "TIMLocationElem": _location,
    "TIMCustomElem": _custom, "TIMImageElem": _image, "TIMSoundElem": _sound,
    "TIMVideoFileElem": _video, "TIMFileElem": _file, "TIMRelayElem": _relay,
}


def element_html(element) -> SafeString:
    if not isinstance(element, dict):
        return format_html('<pre class="pc-unknown">{}</pre>', json.dumps(element))
    payload = element.get("payload")
    render = RENDERERS.get(element.get("type"))
    if render is None or not isinstance(payload, dict):
        return format_html('<pre class="pc-unknown">{}</pre>',
                           json.dumps(element, ensure_ascii=False)[:2000])
    return render(payload)


def elements_html(elements) -> SafeString:
    if not isinstance(elements, list):
        return element_html(elements)
    return format_html_join("", "{}", ((element_html(e),) for e in elements))
