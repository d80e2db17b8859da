vcl 4.1;
# Varnish configuration for {{ project }} - rendered by `manage.py upstack render --target {{ target }}`.
# Do not edit by hand: change the Django settings and render again, then reload (never restart)
# Varnish so its cache survives: varnishadm vcl.load / vcl.use.

import std;
import directors;
import xkey;

# One backend per app server, each with a health probe on the cheap health URL.
probe app_health {
    .request =
        "GET {{ health_path }} HTTP/1.1"
        "Host: {{ health_host }}"
        "Connection: close"
        "User-Agent: varnish-probe";
    .interval = 2s;
    .timeout = 1s;
    .window = 5;
    .threshold = 3;
    .initial = 3;
}
{% for backend in app_backends %}
backend {{ backend.name }} {
    .host = "{{ backend.host }}";
    .port = "{{ backend.port }}";
    .probe = app_health;
    .connect_timeout = 1s;
    .first_byte_timeout = 30s;
    .between_bytes_timeout = 10s;
    .max_connections = {{ backend_max_connections }};
}
{% endfor %}
# Addresses allowed to purge and ban (internal only).
acl purgers {{% for net in internal_networks %}
    "{{ net }}";{% endfor %}
}

sub vcl_init {
    new app = directors.round_robin();{% for backend in app_backends %}
    app.add_backend({{ backend.name }});{% endfor %}
}

sub vcl_recv {
    set req.backend_hint = app.backend();
    # While the backends are healthy, serve stale only briefly while refetching in the background;
    # when they are sick, the object's whole grace applies.
    if (std.healthy(req.backend_hint)) {
        set req.grace = {{ grace_healthy }};
    }

    # Only this VCL sets the header that carries a reader's cookies to their fragments.
    if (req.esi_level == 0) {
        unset req.http.X-Upstack-Cookie;
        unset req.http.X-Upstack-Fresh;
    }
    # A request id for the logs of every layer.
    if (!req.http.X-Request-ID) {
        set req.http.X-Request-ID = req.xid;
    }

    # Purges: by surrogate key (xkey header, what Django's purge pipeline sends) or by URL; only
    # from the purge ACL.
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.xkey) {
            set req.http.X-Purged = xkey.purge(req.http.xkey);
            return (synth(200, "Purged " + req.http.X-Purged));
        }
        return (purge);
    }
{% for pattern in not_found %}
    if (req.url ~ "{{ pattern }}") {
        return (synth(404, "Not Found"));
    }{% endfor %}{% for old, new in redirects %}
    if (req.url == "{{ old }}") {
        set req.http.X-Redirect-To = "{{ new }}";
        return (synth(751, "Moved Permanently"));
    }{% endfor %}

    # Metrics are for the monitoring network only (Django checks too).
    if (req.url ~ "^/metrics" && client.ip !~ purgers) {
        return (synth(404, "Not Found"));
    }
    # The health URL is always answered by a live backend, never from cache.
    if (req.url == "{{ health_path }}") {
        return (pass);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }

    # Query strings: most page views have none, and skip these rewrites.
    if (req.url ~ "\?") {
        # The fresh-render parameter: trusted callers get a fresh copy (which replaces the cached one);
        # for everyone else it is removed, so it cannot be used to bypass the cache.
        if (req.url ~ "[?&]{{ bypass_param }}(=[^&]*)?(&|$)") {
            if (client.ip ~ purgers) {
                set req.hash_always_miss = true;
            } else {
                set req.url = regsuball(req.url, "([?&]){{ bypass_param }}(=[^&]*)?(&|$)", "\1");
            }
        }
        # Tracking parameters never change a page: drop them so they do not split the cache.
        set req.url = regsuball(req.url, "([?&])({{ tracking_regex }})=[^&]*(&|$)", "\1");
        set req.url = regsub(req.url, "[?&]+$", "");
    }

    # Keep only the cookies Django reads; drop analytics and the like so anonymous requests are
    # cacheable.
    if (req.http.Cookie) {
        set req.http.Cookie = ";" + req.http.Cookie;
        set req.http.Cookie = regsuball(req.http.Cookie, "; +", ";");
        set req.http.Cookie = regsuball(req.http.Cookie, ";({{ session_cookie }}|{{ csrf_cookie }}|upstack_fresh)=", "; \1=");
        set req.http.Cookie = regsuball(req.http.Cookie, ";[^ ][^;]*", "");
        set req.http.Cookie = regsuball(req.http.Cookie, "^[; ]+|[; ]+$", "");
        if (req.http.Cookie == "") {
            unset req.http.Cookie;
        }
    }
    # Read your own writes: for a few seconds after a reader's POST, their page views are rendered
    # fresh (and refresh the shared copy), even if the purge has not landed yet.
    if (req.esi_level == 0 && req.http.Cookie ~ "(^|; )upstack_fresh=") {
        set req.hash_always_miss = true;
        set req.http.X-Upstack-Fresh = "1";
    }
    # Per-user fragments (ESI includes): an include runs with its page's request, whose cookies were
    # set aside below; with a session they are personal (pass), without one they are shared.
    if (req.url ~ "^/_esi/") {
        if (req.esi_level > 0 && req.http.X-Upstack-Cookie) {
            set req.http.Cookie = req.http.X-Upstack-Cookie;
        }
        if (req.http.Cookie ~ "(^|; ){{ session_cookie }}=") {
            return (pass);
        }
        unset req.http.Cookie;
        return (hash);
    }
    # Always-personal paths (login, the admin): pass, with the cookies.
    if (req.url ~ "^({{ pass_regex }})") {
        return (pass);
    }
    # A logged-in reader gets the shared page with ESI includes; only its per-user fragments reach
    # Django, with the reader's cookies. Django renders the page itself without them.
    # Anonymous readers get the other variant, fragments inline: one object, no ESI work on delivery.
    if (req.http.Cookie ~ "(^|; ){{ session_cookie }}=") {
        set req.http.X-Upstack-Cookie = req.http.Cookie;
        set req.http.Surrogate-Capability = "varnish=ESI/1.0";
    } else {
        unset req.http.Surrogate-Capability;
    }
    # The CSRF cookie alone does not change a page either; do not let it split the cache.
    unset req.http.Cookie;
    return (hash);
}

sub vcl_hash {
    # The two variants of a page (see vcl_recv); a purge by surrogate key reaches both.
    if (req.http.Surrogate-Capability) {
        hash_data("esi");
    }
}

sub vcl_backend_fetch {
    # The reader's cookies were only kept for their fragments.
    unset bereq.http.X-Upstack-Cookie;
}

sub vcl_backend_response {
    # Grace: serve stale objects for hours while the backends are sick.
    set beresp.grace = {{ grace_sick }};
    # Never keep an error from a background fetch; the stale copy stays in use.
    if (beresp.status >= 500 && bereq.is_bgfetch) {
        return (abandon);
    }
    if (beresp.status >= 500) {
        set beresp.ttl = 0s;
    }
    # Edge Side Includes in HTML.
    if (beresp.http.Content-Type ~ "text/html") {
        set beresp.do_esi = true;
    }
    # No return: Varnish's built-in rules follow, so responses that set cookies, say private or
    # no-store, or have no TTL are never shared.
}

sub vcl_deliver {
    if (obj.uncacheable) {
        set resp.http.X-Cache = "PASS";
    } elsif (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    set resp.http.X-Request-ID = req.http.X-Request-ID;
    # Timings are for insiders (Django also sends them to staff).
    if (client.ip !~ purgers) {
        unset resp.http.Server-Timing;
    }
    # Surrogate keys are for this cache only.
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.Cache-Tag;
}

sub vcl_synth {
    set resp.http.X-Request-ID = req.http.X-Request-ID;
    if (resp.status == 751) {
        set resp.status = 301;
        set resp.http.Location = req.http.X-Redirect-To;
        return (deliver);
    }
}

# A flat error page when no backend can answer.
sub vcl_backend_error {
    set beresp.http.Content-Type = "text/html; charset=utf-8";
    set beresp.http.Retry-After = "5";
    synthetic({"{{ error_page }}"});
    return (deliver);
}
