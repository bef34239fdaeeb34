#!/usr/bin/env bash
# An mTLS gateway for the CI stress run (docs/ci.md): nginx requires a client certificate
# from the generated PKI, answers every request itself, and reports the certificate it
# saw in X-Client-Cert-Fingerprint (SHA-1: run Locust with --mtls-identity-format sha1).
# The reporting lines are docs/gateways.md's "nginx without njs: SHA-1" recipe.
#
#   docs/ci/mtls-gateway.sh start    # write the config, start nginx, check one request
#   docs/ci/mtls-gateway.sh stop     # stop it, show its error log
#
# GATEWAY_RUNTIME  docker (default): the official nginx image as a container;
#                  nginx: the nginx on PATH (Debian's), as .ci/run and the GitLab job do
# GATEWAY_PORT     port on 127.0.0.1 (default 8443)
# CERTS            directory written by `locust-mtls certs` (default certs)
set -euo pipefail

runtime=${GATEWAY_RUNTIME:-docker}
port=${GATEWAY_PORT:-8443}
certs=${CERTS:-certs}
image=nginx:1.30.0-alpine-slim
container=mtls-gateway
# Not under the checkout: the directory holds a copy of the server key, and results/ is
# uploaded as an artifact.
dir=${RUNNER_TEMP:-/tmp}/mtls-gateway

write_config() {  # $1: the listen address as nginx sees it
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$certs/server.pem" "$certs/server.key" "$certs/ca.pem" "$dir/"
    # Relative paths: certificates next to nginx.conf, the rest under the -p prefix ($dir).
    cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
pid nginx.pid;
error_log error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;

    map \$ssl_client_fingerprint \$client_cert_sha1 {
        "" none;
        default \$ssl_client_fingerprint;
    }

    server {
        listen $1 ssl;
        ssl_certificate server.pem;
        ssl_certificate_key server.key;
        ssl_client_certificate ca.pem;
        ssl_verify_client on;

        location / {
            add_header X-Client-Cert-Fingerprint \$client_cert_sha1 always;
            default_type text/plain;
            return 200 "ok\n";
        }
    }
}
EOF
}

# One request with client-1's certificate: fails the step unless the gateway answers and
# reports a certificate. --retry-all-errors: a published Docker port accepts (and resets)
# connections before nginx inside listens.
check() {
    local headers
    headers=$(curl --silent --show-error --fail --retry 20 --retry-all-errors --retry-delay 1 \
        --cacert "$certs/ca.pem" --cert "$certs/client-1.pem" --key "$certs/client-1.key" \
        --dump-header - --output /dev/null "https://127.0.0.1:$port/")
    if ! grep -i '^x-client-cert-fingerprint: [0-9a-f]\{40\}' <<< "$headers"; then
        echo "mtls-gateway: no SHA-1 fingerprint in the response to client-1; headers:" >&2
        echo "$headers" >&2
        return 1
    fi
}

case "${1:-} $runtime" in
"start docker")
    write_config 8443
    docker run --detach --name "$container" --publish "127.0.0.1:$port:8443" \
        --volume "$dir:/etc/mtls-gateway" "$image" \
        nginx -p /etc/mtls-gateway/ -c /etc/mtls-gateway/nginx.conf -g 'daemon off;'
    check || { docker logs "$container"; cat "$dir/error.log" 2>/dev/null; exit 1; }
    ;;
"start nginx")
    write_config "127.0.0.1:$port"
    chmod 755 "$dir"  # started as root, the workers run as nobody
    # nginx daemonizes once it listens and writes $dir/nginx.pid; stop reads it.
    nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log"
    check || { cat "$dir/error.log"; exit 1; }
    ;;
"stop docker")
    docker rm --force "$container" > /dev/null 2>&1 || true  # also when start never ran
    tail -20 "$dir/error.log" 2>/dev/null || true
    ;;
"stop nginx")
    if [ -f "$dir/nginx.pid" ]; then
        pid=$(cat "$dir/nginx.pid")
        kill -QUIT "$pid"  # graceful stop of the master we started (and its workers)
        for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    fi
    tail -20 "$dir/error.log" 2>/dev/null || true
    ;;
*)
    echo "usage: GATEWAY_RUNTIME=docker|nginx $0 start|stop (got '${1:-}' '$runtime')" >&2
    exit 2
    ;;
esac
