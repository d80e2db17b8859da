vcl 4.1;
# Varnish configuration for {{ project }} - rendered by `manage.py upstack render --target {{ target }}`.
# Do not edit by hand: change the Django settings and render again, then reload (never restart)
# Varnish so its cache survives: varnishadm vcl.load / vcl.use.

import std;
import blob;
import directors;
import xkey;

# One backend per app server, each with a health probe on the readiness URL: it
# fails while the app cannot reach its database, so grace serves the last good pages meanwhile.
probe app_health {
    .request =
        "GET {{ ready_path }} HTTP/1.1"
        "Host: {{ health_host }}"
        "Connection: close"
        "User-Agent: varnish-probe";
    .interval = 1s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}
{% if app_pool_vcl %}# Compose: one backend per address of the app service (`--scale app=N`), written by
# varnish/app-pool.sh before varnishd starts; after scaling, run it again and reload (docs/deploy.md).
include "{{ app_pool_vcl }}";
{% else %}{% for backend in app_backends %}{% include "varnish/backend.vcl" %}{% endfor %}{% endif %}# Insiders: allowed to purge, bypass the cache, read Server-Timing and /metrics.
# Matched against the real client address (see upstack_client), never against a proxy's.
# UPSTACK["INTERNAL_IPS"] - the same list Django and gunicorn trust.
acl purgers {{% for net in internal_networks %}
    {{ net }};{% endfor %}
}
# The load balancers in front of this edge: the only peers whose X-Forwarded-For,
# X-Forwarded-Proto and X-Request-ID are believed. UPSTACK["LOAD_BALANCERS"].
acl load_balancers {{% for net in load_balancers %}
    {{ net }};{% endfor %}
}

sub vcl_init {
    new app = directors.round_robin();{% if app_pool_vcl %}
    include "{{ app_pool_init_vcl }}";{% else %}{% for backend in app_backends %}
    app.add_backend({{ backend.name }});{% endfor %}{% endif %}
    # Only for its key(): the first 32 bits of a SHA-256, to check the read-your-own-writes cookie.
    new fresh_mac = directors.shard();
}

# Who is asking, decided once per client request: the address the load balancer saw (the entry it
# appended to X-Forwarded-For, before the one Varnish appended for the load balancer itself), or
# the TCP peer. Headers a client could use to lie about scheme, path, address or request id are
# dropped; the app server would believe some of them from this edge.
sub upstack_client {
    unset req.http.X-Upstack-Insider;
    if (client.ip ~ load_balancers && req.http.X-Forwarded-For ~ ",") {
        set req.http.X-Upstack-Client-IP = regsub(req.http.X-Forwarded-For, "^(.*,)?\s*([^,\s]+)\s*,[^,]*$", "\2");
    } else {
        set req.http.X-Upstack-Client-IP = client.ip;
        set req.http.X-Forwarded-For = client.ip;
        unset req.http.X-Forwarded-Proto;
        unset req.http.X-Request-ID;
    }
    if (std.ip(req.http.X-Upstack-Client-IP, "192.0.2.1", resolve = false) ~ purgers) {
        set req.http.X-Upstack-Insider = "1";
    }
    if (req.http.X-Forwarded-Proto && req.http.X-Forwarded-Proto !~ "^https?$") {
        unset req.http.X-Forwarded-Proto;
    }
    # Nobody in this stack sets these; WSGI servers and frameworks may trust them.
    unset req.http.X-Forwarded-Ssl;
    unset req.http.X-Forwarded-Protocol;
    unset req.http.X-Forwarded-Scheme;
    unset req.http.X-Forwarded-Host;
    unset req.http.X-Forwarded-Port;
    unset req.http.X-Forwarded-Prefix;
    unset req.http.Forwarded;
    unset req.http.X-Url-Scheme;
    unset req.http.Front-End-Https;
    unset req.http.X-Original-URL;
    unset req.http.X-Rewrite-URL;
    unset req.http.X-Script-Name;
    # Header names with "_" become WSGI environ keys (SCRIPT_NAME, PATH_INFO...); VCL cannot list
    # headers, so the known ones go here and the app server drops every other one (header_map).
    unset req.http.SCRIPT_NAME;
    unset req.http.PATH_INFO;
    unset req.http.REMOTE_USER;
    unset req.http.REMOTE_ADDR;
    unset req.http.REQUEST_METHOD;
    unset req.http.QUERY_STRING;
    unset req.http.SERVER_NAME;
    unset req.http.HTTP_HOST;
    unset req.http.wsgi_url_scheme;
    unset req.http.X-Upstack-Stale;
}

sub vcl_recv {
    set req.backend_hint = app.backend();
    # An ESI include starts from the client's request as it arrived, not as this VCL left it, so the
    # client's headers are cleaned at every level; the page's own state is read from req_top.
    if (req.restarts == 0) {
        call upstack_client;
        # Only this VCL sets the headers that carry a reader's cookies and fresh state onward.
        unset req.http.X-Upstack-Cookie;
        unset req.http.X-Upstack-Fresh;
        unset req.http.X-Upstack-Esi;
        unset req.http.X-Upstack-With-Session;
        unset req.http.X-Upstack-Reader;
    }
    if (req.esi_level > 0) {
        set req.http.X-Upstack-Esi = "1";
    }
    # While the backends are healthy, a stale or soft-purged object is refetched before it is
    # served; when they are sick, or the fetch failed (vcl_synth restarts the request with
    # X-Upstack-Stale), the object's whole grace applies: the last good page beats an error.
    if (std.healthy(req.backend_hint) && !req.http.X-Upstack-Stale) {
        set req.grace = {{ grace_healthy }};
    } else {
        set req.grace = {{ grace_sick }};
    }
    # A request id for the logs of every layer; a client's own is never used.
    if (!req.http.X-Request-ID) {
        set req.http.X-Request-ID = req.xid;
    }
    # Rules match the decoded path (/%6detrics is /metrics to Django); a broken escape or a NUL is
    # refused.
    if (req.url ~ "%(?![0-9A-Fa-f]{2})|%00") {
        return (synth(400, "Bad Request"));
    }
    set req.http.X-Upstack-Path = regsub(req.url, "\?.*$", "");
    if (req.http.X-Upstack-Path ~ "%") {
        set req.http.X-Upstack-Path = blob.transcode(decoding = URL, encoded = req.http.X-Upstack-Path);
    }

    # Query strings: most page views have none, and skip these rewrites. The same normalisation as
    # Django's page cache (upstack.page.policy.normalize_query): tracking parameters and the bypass
    # parameter dropped, a repeated parameter keeps its last value (what Django reads), sorted.
    if (req.url ~ "\?") {
        # The fresh-render parameter: insiders get a fresh copy (which replaces the cached one);
        # for everyone else it is removed, so it cannot be used to bypass the cache.
        if (req.url ~ "[?&]{{ bypass_param }}(=[^&]*)?(&|$)") {
            if (req.http.X-Upstack-Insider) {
                set req.hash_always_miss = true;
            } else {
                set req.url = regsuball(req.url, "([?&]){{ bypass_param }}(=[^&]*)?(?=&|$)", "\1");
            }
        }
        # Tracking parameters never change a page: drop them so they do not split the cache.
        set req.url = regsuball(req.url, "([?&])({{ tracking_regex }})(=[^&]*)?(?=&|$)", "\1");
        set req.url = regsuball(req.url, "(?<=[?&])([^=&]*)(=[^&]*)?&(?=(?:.*&)?\1(?:[=&]|$))", "");
        set req.url = regsuball(req.url, "&&+", "&");
        set req.url = regsub(req.url, "\?&+", "?");
        set req.url = regsub(req.url, "[?&]+$", "");
        set req.url = std.querysort(req.url);
    }

    # Purges: by surrogate key (xkey header, what Django's purge pipeline sends) or by URL; only
    # from the purge ACL.
    # Soft purges: the objects expire now but keep their grace, so a failed refetch
    # still serves the last good copy. A URL purge reaches every variant of the URL (the
    # logged-in ESI one too) through the URL's own key, set in vcl_backend_response.
    if (req.method == "PURGE") {
        if (!req.http.X-Upstack-Insider) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.xkey) {
            set req.http.X-Purged = xkey.softpurge(req.http.xkey);
        } else {
            set req.http.X-Purged = xkey.softpurge("url:" + req.http.host + regsuball(req.url, "[ ,]", "+"));
        }
        return (synth(200, "Purged " + req.http.X-Purged));
    }
{% for pattern in not_found %}
    if (req.http.X-Upstack-Path ~ "{{ pattern }}" || req.url ~ "{{ pattern }}") {
        return (synth(404, "Not Found"));
    }{% endfor %}{% for old, new in redirects %}
    if (req.url == "{{ old }}") {
        set req.http.X-Redirect-To = "{{ new }}";
        return (synth(751, "Moved Permanently"));
    }{% endfor %}

    # Metrics are for the monitoring network only (Django checks too).
    if (req.http.X-Upstack-Path ~ "^/metrics" && !req.http.X-Upstack-Insider) {
        return (synth(404, "Not Found"));
    }
    # Liveness and readiness are always answered by a live backend, never from cache.
    if (req.http.X-Upstack-Path == "{{ health_path }}" || req.http.X-Upstack-Path == "{{ ready_path }}") {
        return (pass);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        # A request body is read whole here before an app thread sees it: a client trickling one
        # byte a second holds a cheap edge thread, never one of the app's few.
        if (req.http.Content-Length || req.http.Transfer-Encoding) {
            if (!std.cache_req_body({{ max_body_mb }}MB)) {
                return (synth(413, "Payload Too Large"));
            }
        }
        return (pass);
    }

    # Keep only the cookies Django reads; drop analytics and the like so anonymous requests are
    # cacheable.
    if (req.http.Cookie) {
        set req.http.Cookie = ";" + req.http.Cookie;
        set req.http.Cookie = regsuball(req.http.Cookie, "; +", ";");
        set req.http.Cookie = regsuball(req.http.Cookie, ";({{ session_cookie }}|{{ csrf_cookie }}|{{ fresh_cookie }})=", "; \1=");
        set req.http.Cookie = regsuball(req.http.Cookie, ";[^ ][^;]*", "");
        set req.http.Cookie = regsuball(req.http.Cookie, "^[; ]+|[; ]+$", "");
        if (req.http.Cookie == "") {
            unset req.http.Cookie;
        }
    }
    # Read your own writes: for a few seconds after a reader's POST, their page views are rendered
    # fresh (and refresh the shared copy), even if the purge has not landed yet. The cookie is
    # "<expiry>.<mac>": the mac binds it to the writer's session cookie and to an expiry at most
    # {{ fresh_window }} s ahead, with a secret the edge and Django share (UPSTACK_FRESH_SECRET,
    # upstack.edge.fresh). A forged, replayed or expired one is ignored: an edge hit as usual.
    if (req.esi_level == 0 && req.restarts == 0 && req.http.Cookie ~ "(^|; ){{ fresh_cookie }}=[0-9]+\.[0-9]+-[0-9]+(;|$)"
            && req.http.Cookie ~ "(^|; ){{ session_cookie }}=[^;]" && std.getenv("UPSTACK_FRESH_SECRET") != "") {
        set req.http.X-Upstack-Token = regsub(req.http.Cookie, "^(.*; )?{{ fresh_cookie }}=([^;]*).*$", "\2");
        set req.http.X-Upstack-Expiry = regsub(req.http.X-Upstack-Token, "\..*$", "");
        set req.http.X-Upstack-Signed = std.getenv("UPSTACK_FRESH_SECRET") + "|"
            + regsub(req.http.Cookie, "^(.*; )?{{ session_cookie }}=([^;]*).*$", "\2") + "|" + req.http.X-Upstack-Expiry;
        if (std.integer(req.http.X-Upstack-Expiry, 0) > std.time2integer(now, 0)
                && std.integer(req.http.X-Upstack-Expiry, 0) <= std.time2integer(now, 0) + {{ fresh_window }} + 1
                && req.http.X-Upstack-Token == req.http.X-Upstack-Expiry + "." + fresh_mac.key("1|" + req.http.X-Upstack-Signed)
                    + "-" + fresh_mac.key("2|" + req.http.X-Upstack-Signed)) {
            set req.hash_always_miss = true;
            set req.http.X-Upstack-Fresh = "1";
        }
        unset req.http.X-Upstack-Token;
        unset req.http.X-Upstack-Expiry;
        unset req.http.X-Upstack-Signed;
    }
    # Per-user fragments (ESI includes): an include runs with the cookies its page's request arrived
    # with (filtered above); with a session they are personal, without one they are shared.
    if (req.http.X-Upstack-Path ~ "^{{ esi_prefix }}") {
        if (req.http.Cookie ~ "(^|; ){{ session_cookie }}=") {
            if (req.http.X-Upstack-Path != "{{ esi_prefix }}reader/") {
                return (pass);
            }
            # The reader's own include: looked up under their session (and CSRF) cookie, exactly as
            # Django reads them, so only a request bearing the same cookies can get this copy. It is
            # kept only when Django says every part is the reader's alone (X-Upstack-Reader-TTL);
            # during the reader's fresh-after-write window (checked on the page's request, req_top:
            # an include does not see headers set there) it is fetched again.
            set req.http.Cookie = regsuball(req.http.Cookie, "(^|; ){{ fresh_cookie }}=[^;]*", "");
            set req.http.Cookie = regsub(req.http.Cookie, "^; ", "");
            set req.http.X-Upstack-Reader = req.http.Cookie;
            if (req_top.http.X-Upstack-Fresh) {
                set req.hash_always_miss = true;
            }
            return (hash);
        }
        unset req.http.Cookie;
        return (hash);
    }
    # A page that needs the reader's session (X-Upstack-Session, upstack.page.session): vcl_deliver
    # restarted a reader who has one; ask Django again with their cookies, and never share the answer.
    if (req.http.X-Upstack-With-Session && req.http.X-Upstack-Cookie) {
        set req.http.Cookie = req.http.X-Upstack-Cookie;
        unset req.http.Surrogate-Capability;
        return (pass);
    }
    # Always-personal paths (login, the admin): pass, with the cookies.
    if (req.http.X-Upstack-Path ~ "^({{ pass_regex }})") {
        return (pass);
    }
    # A logged-in reader gets the shared page with ESI includes; only its per-user fragments reach
    # Django, with the reader's cookies. Django renders the page itself without them.
    # Anonymous readers get the other variant, fragments inline: one object, no ESI work on delivery.
    if (req.http.Cookie ~ "(^|; ){{ session_cookie }}=") {
        set req.http.X-Upstack-Cookie = req.http.Cookie;
        set req.http.Surrogate-Capability = "varnish=ESI/1.0";
        # The page's validators do not cover its per-user fragments: never a 304 for this variant.
        unset req.http.If-None-Match;
        unset req.http.If-Modified-Since;
    } else {
        unset req.http.Surrogate-Capability;
    }
    # The CSRF cookie alone does not change a page either; do not let it split the cache.
    unset req.http.Cookie;
    return (hash);
}

sub vcl_hash {
    # The two variants of a page (see vcl_recv); a purge by surrogate key or URL reaches both.
    if (req.http.Surrogate-Capability) {
        hash_data("esi");
    }
    # Links in feeds and sitemaps carry the scheme, which only the load balancer may state.
    hash_data(req.http.X-Forwarded-Proto);
    # A reader's own include: one copy per session (see vcl_recv).
    if (req.http.X-Upstack-Reader) {
        hash_data("reader");
        hash_data(req.http.X-Upstack-Reader);
    }
}

sub vcl_backend_fetch {
    # The reader's cookies were only kept for their fragments.
    unset bereq.http.X-Upstack-Cookie;
    # A reader include's fetch is marked, without the cookies (Django has them in Cookie, where error
    # reports hide them; a copy in another header would not be).
    if (bereq.http.X-Upstack-Reader) {
        set bereq.http.X-Upstack-Reader = "1";
    }
    unset bereq.http.X-Upstack-With-Session;
    unset bereq.http.X-Upstack-Path;
    unset bereq.http.X-Upstack-Insider;
}

sub vcl_backend_response {
    # Grace: serve stale objects for hours while the backends are sick.
    set beresp.grace = {{ grace_sick }};
    # Never keep an error, and never let one replace a stale copy: the first failed fetch is
    # abandoned (vcl_synth then looks again with the whole grace); only when that finds nothing is
    # the error passed on, uncached.
    if (beresp.status >= 500 && (bereq.is_bgfetch || !bereq.http.X-Upstack-Stale)) {
        return (abandon);
    }
    if (beresp.status >= 500) {
        set beresp.ttl = 0s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    # Every object also carries its URL's key, so a URL purge reaches all its variants.
    set beresp.http.xkey = beresp.http.xkey + " url:" + bereq.http.host + regsuball(bereq.url, "[ ,]", "+");
    # Edge Side Includes in HTML, and gzip once per object (Varnish's gzip_level, 6 by default): the
    # stored copy is compressed, gzip clients get it as is, others get it unzipped on delivery
    # (docs/edge.md, "Bytes on the wire").
    if (beresp.http.Content-Type ~ "text/html") {
        set beresp.do_esi = true;
        set beresp.do_gzip = true;
    }
    # Validators for a shared page that has none, set once per fetch: a browser revalidating an
    # unchanged page gets a 304 from the edge; after a purge the refetched object has new ones.
    if (beresp.http.Content-Type ~ "text/html" && beresp.ttl > 0s && !beresp.http.Set-Cookie
            && beresp.http.Cache-Control !~ "(private|no-store|no-cache)" && !beresp.http.ETag) {
        set beresp.http.ETag = {"""} + bereq.xid + "-" + std.time2integer(now, 0) + {"""};
        if (!beresp.http.Last-Modified) {
            set beresp.http.Last-Modified = now;
        }
    }
    # A reader's own include (vcl_recv): kept for that session only when Django says so, and never
    # when it sets a cookie; otherwise not kept (a later answer may be).
    if (bereq.http.X-Upstack-Reader) {
        if (beresp.status == 200 && beresp.http.X-Upstack-Reader-TTL ~ "^[0-9]+$" && !beresp.http.Set-Cookie) {
            set beresp.ttl = std.duration(beresp.http.X-Upstack-Reader-TTL + "s", 0s);
            # No grace: a purged copy (logout, a like) is never served again, even while the app is
            # down (the page then shows without its personal parts, as before the edge kept them).
            set beresp.grace = 0s;
        } else {
            set beresp.ttl = 120s;
            set beresp.uncacheable = true;
        }
        unset beresp.http.X-Upstack-Reader-TTL;
        return (deliver);
    }
    unset beresp.http.X-Upstack-Reader-TTL;
    # No return: Varnish's built-in rules follow, so responses that set cookies, say private or
    # no-store, or have no TTL are never shared.
}

sub vcl_deliver {
    # A fragment that failed becomes a tiny placeholder, never a whole error page inside a page.
    if (req.esi_level > 0 && resp.status >= 400) {
        return (synth(752, "Fragment unavailable"));
    }
    # The shared page says it needs the session, and this reader has one: once more, with cookies.
    if (resp.http.X-Upstack-Session) {
        unset resp.http.X-Upstack-Session;
        if (req.esi_level == 0 && req.http.X-Upstack-Cookie && !req.http.X-Upstack-With-Session) {
            set req.http.X-Upstack-With-Session = "1";
            return (restart);
        }
    }
    if (obj.uncacheable) {
        set resp.http.X-Cache = "PASS";
    } elsif (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    set resp.http.X-Request-ID = req.http.X-Request-ID;
    # Timings are for insiders (Django also sends them to staff).
    if (!req.http.X-Upstack-Insider) {
        unset resp.http.Server-Timing;
    }
    # Surrogate keys are for this cache only.
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.Cache-Tag;
}

sub vcl_synth {
    set resp.http.X-Request-ID = req.http.X-Request-ID;
    # A fragment that failed: a tiny placeholder, never a whole error page inside a page.
    if (req.esi_level > 0 && (resp.status >= 400 || resp.status == 752)) {
        set resp.status = 200;
        set resp.http.Content-Type = "text/html; charset=utf-8";
        set resp.http.Cache-Control = "private, no-cache";
        synthetic("<!-- fragment unavailable -->");
        return (deliver);
    }
    # A failed fetch (abandoned, see vcl_backend_response): look again with the whole grace, so a
    # stale copy, if any, is served instead of an error (see vcl_recv).
    if (resp.status == 503 && req.restarts == 0 && req.esi_level == 0 && !req.http.X-Upstack-Stale
            && (req.method == "GET" || req.method == "HEAD")) {
        set req.http.X-Upstack-Stale = "1";
        set req.hash_always_miss = false;
        return (restart);
    }
    if (resp.status == 503) {
        set resp.http.Content-Type = "text/html; charset=utf-8";
        set resp.http.Retry-After = "5";
        synthetic({"{{ error_page }}"});
        return (deliver);
    }
    if (resp.status == 751) {
        set resp.status = 301;
        set resp.http.Location = req.http.X-Redirect-To;
        return (deliver);
    }
}

# A flat error page when no backend can answer.
sub vcl_backend_error {
    # Never stored: a stale copy, if any, must win over this page (see vcl_deliver).
    set beresp.ttl = 0s;
    set beresp.grace = 0s;
    set beresp.uncacheable = true;
    if (bereq.http.X-Upstack-Esi) {
        set beresp.http.Content-Type = "text/html; charset=utf-8";
        synthetic("<!-- fragment unavailable -->");
        return (deliver);
    }
    if (!bereq.http.X-Upstack-Stale) {
        return (abandon);
    }
    set beresp.http.Content-Type = "text/html; charset=utf-8";
    set beresp.http.Retry-After = "5";
    synthetic({"{{ error_page }}"});
    return (deliver);
}
