#!/usr/bin/env bash
# A lecture hall on one machine: N `streamlit run app.py` processes behind nginx (cookie session affinity) and
# Redis for the class rooms, all on loopback ports, from Debian's packages.
#
#   bash deploy/hall.sh up 3      # start 3 app processes, Redis and nginx; prints the URL
#   bash deploy/hall.sh status    # each process: pid, port, alive, /_stcore/health
#   bash deploy/hall.sh down      # stop what `up` started (by the PIDs it recorded), nothing else
#   bash deploy/hall.sh config 3  # only write the run folder's nginx.conf, check it with `nginx -t`, print its path
#
# Settings (environment): MOEVIZ_HALL_PORT (nginx, 8080), MOEVIZ_HALL_APP_PORT (first app port, 8601),
# MOEVIZ_HALL_REDIS_PORT (6399), MOEVIZ_HALL_RUN (run folder, deploy/run), MOEVIZ_HALL_BALANCE (cookie, or
# round-robin: NO affinity, only to see the app's self-check fire), MOEVIZ_HALL_PYTHON (.venv/bin/python).
# Everything the hall writes (config, PIDs, logs, nginx's temp folders) lives in the run folder. See docs/deploy.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="${MOEVIZ_HALL_RUN:-$ROOT/deploy/run}"
PORT="${MOEVIZ_HALL_PORT:-8080}"
APP_PORT="${MOEVIZ_HALL_APP_PORT:-8601}"
REDIS_PORT="${MOEVIZ_HALL_REDIS_PORT:-6399}"
BALANCE="${MOEVIZ_HALL_BALANCE:-cookie}"
PY="${MOEVIZ_HALL_PYTHON:-$ROOT/.venv/bin/python}"
NGINX=/usr/sbin/nginx
REDIS=/usr/bin/redis-server
START_TIMEOUT_S="${MOEVIZ_HALL_START_TIMEOUT:-180}"

say() { echo "hall: $*"; }
die() { echo "hall: $*" >&2; exit 1; }

install_missing() {
    local missing=()
    [ -x "$NGINX" ] || missing+=(nginx)
    [ -x "$REDIS" ] || missing+=(redis-server)
    command -v curl >/dev/null || missing+=(curl)
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    [ "${#missing[@]}" -eq 0 ] && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing ${missing[*]}"
        # policy-rc.d/invoke-rc.d may start the packages' own services; the hall never uses them.
        DEBIAN_FRONTEND=noninteractive apt-get update -q -o Acquire::Retries=3
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Acquire::Retries=3 "${missing[@]}"
    else
        die "missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}"
    fi
}

ensure_venv() {
    [ -x "$PY" ] && return
    [ "$PY" = "$ROOT/.venv/bin/python" ] || die "$PY is not an executable Python"
    python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/python" -m pip install -q -r "$ROOT/requirements.txt"
}

# The app's upload limit in MB, read from .streamlit/config.toml (Streamlit's default 200 if unset).
upload_mb() {
    local mb
    mb="$(sed -n 's/^[[:space:]]*maxUploadSize[[:space:]]*=[[:space:]]*\([0-9]\+\).*/\1/p' "$ROOT/.streamlit/config.toml")"
    echo "${mb:-200}"
}

# `pid_alive NAME`: the recorded process exists and is the one we started (its command line names our run
# folder or port), so a reused PID is never signalled.
pid_alive() {
    local f="$RUN/pids/$1.pid" pid mark
    [ -f "$f" ] || return 1
    read -r pid mark < "$f"
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$mark"
}

# `start NAME MARK CMD...`: CMD in its own session (process group) with its log in the run folder; the PID and
# a string from its command line (MARK) go to pids/NAME.pid.
start() {
    local name="$1" mark="$2"; shift 2
    setsid "$@" > "$RUN/logs/$name.log" 2>&1 < /dev/null &
    echo "$! $mark" > "$RUN/pids/$name.pid"
}

# `stop NAME...`: SIGTERM each recorded process group (only if pid_alive says it is ours), then SIGKILL what is
# left after 10 s. All at once: a Streamlit process can take seconds to close its sessions.
stop() {
    local name pid pids=()
    for name in "$@"; do
        if pid_alive "$name"; then
            read -r pid _ < "$RUN/pids/$name.pid"
            kill -TERM -- "-$pid" 2>/dev/null || true
            pids+=("$pid")
            say "stopping $name (pid $pid)"
        fi
        rm -f "$RUN/pids/$name.pid"
    done
    for _ in $(seq 100); do
        local left=0
        for pid in "${pids[@]}"; do [ -d "/proc/$pid" ] && left=1; done
        [ "$left" = 0 ] && return 0
        sleep 0.1
    done
    for pid in "${pids[@]}"; do [ -d "/proc/$pid" ] && kill -KILL -- "-$pid" 2>/dev/null; done
    return 0
}

healthy() { [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$1/_stcore/health" 2>/dev/null)" = ok ]; }

render_nginx_conf() {
    local n="$1" servers="" balance user=""
    for i in $(seq "$n"); do
        servers+="        server 127.0.0.1:$((APP_PORT + i - 1)) max_fails=1 fail_timeout=10s;"$'\n'
    done
    case "$BALANCE" in
        cookie) balance='hash $hall_key consistent;' ;;
        round-robin) balance='# round-robin: NO session affinity (a demonstration of what breaks)' ;;
        *) die "MOEVIZ_HALL_BALANCE must be cookie or round-robin, not '$BALANCE'" ;;
    esac
    # As root, nginx's workers drop to nobody; they must be able to write their temp folders.
    if [ "$(id -u)" = 0 ]; then user="user nobody nogroup;"; fi
    mkdir -p "$RUN/nginx-tmp"
    [ -z "$user" ] || chown nobody:nogroup "$RUN/nginx-tmp"
    local template="$ROOT/deploy/nginx/hall.conf"
    SERVERS="$servers" awk -v run="$RUN" -v port="$PORT" -v body="$(( $(upload_mb) + 1 ))" \
        -v balance="$balance" -v user="$user" '
        /^@SERVERS@$/ { printf "%s", ENVIRON["SERVERS"]; next }
        { gsub(/@RUN@/, run); gsub(/@PORT@/, port); gsub(/@BODY_MB@/, body); gsub(/@BALANCE@/, balance);
          gsub(/@USER@/, user); print }' "$template" > "$RUN/nginx.conf"
}

up() {
    local n="${1:-3}"
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "usage: hall.sh up N (1..99 app processes)"
    for f in "$RUN"/pids/*.pid; do
        [ -e "$f" ] || continue
        pid_alive "$(basename "$f" .pid)" && die "a hall is already up in $RUN; run 'bash deploy/hall.sh down' first"
    done
    install_missing
    ensure_venv
    rm -rf "$RUN"; mkdir -p "$RUN/pids" "$RUN/logs"
    # One cookie secret for every process of the hall (Streamlit signs its cookies with it), kept in the run folder.
    (umask 077; "$PY" -c 'import secrets; print(secrets.token_hex(32))' > "$RUN/cookie-secret")

    start redis "127.0.0.1:$REDIS_PORT" "$REDIS" --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
        --save "" --appendonly no --dir "$RUN" --daemonize no
    for i in $(seq "$n"); do
        local port=$((APP_PORT + i - 1))
        (cd "$ROOT" && MOEVIZ_PROCESS_ID="app-$i" MOEVIZ_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
            STREAMLIT_SERVER_COOKIE_SECRET="$(cat "$RUN/cookie-secret")" PYTHONUNBUFFERED=1 \
            start "app-$i" "--server.port $port" "$PY" -m streamlit run app.py --server.port "$port" \
            --server.address 127.0.0.1 --server.headless true --browser.gatherUsageStats false)
    done
    config "$n" > /dev/null || { down; die "nginx.conf is invalid"; }
    start nginx "$RUN/nginx.conf" "$NGINX" -p "$RUN" -e "$RUN/nginx-error.log" -c "$RUN/nginx.conf" \
        -g "daemon off;"

    local deadline=$((SECONDS + START_TIMEOUT_S))
    for i in $(seq "$n"); do
        until healthy $((APP_PORT + i - 1)); do
            pid_alive "app-$i" || { tail -20 "$RUN/logs/app-$i.log" >&2; down; die "app-$i exited"; }
            [ "$SECONDS" -lt "$deadline" ] || { down; die "app-$i not healthy within ${START_TIMEOUT_S}s"; }
            sleep 0.5
        done
    done
    until healthy "$PORT"; do
        pid_alive nginx || { cat "$RUN/nginx-error.log" >&2; down; die "nginx exited"; }
        [ "$SECONDS" -lt "$deadline" ] || { down; die "nginx not answering within ${START_TIMEOUT_S}s"; }
        sleep 0.2
    done
    printf 'N=%s\nPORT=%s\nAPP_PORT=%s\nREDIS_PORT=%s\nBALANCE=%s\n' "$n" "$PORT" "$APP_PORT" "$REDIS_PORT" \
        "$BALANCE" > "$RUN/hall.env"
    say "$n app processes ($BALANCE affinity), Redis on 127.0.0.1:$REDIS_PORT, logs in $RUN/logs"
    echo "http://127.0.0.1:$PORT"
}

status() {
    [ -f "$RUN/hall.env" ] || { say "no hall in $RUN"; return 1; }
    # shellcheck disable=SC1091
    . "$RUN/hall.env"
    local bad=0 pid
    printf '%-8s %-8s %-6s %-6s %s\n' name pid port alive health
    for i in $(seq "$N"); do
        local port=$((APP_PORT + i - 1)) alive=no health=-
        pid=-; [ -f "$RUN/pids/app-$i.pid" ] && read -r pid _ < "$RUN/pids/app-$i.pid"
        pid_alive "app-$i" && alive=yes
        if healthy "$port"; then health=ok; else health=failing; bad=1; fi
        printf '%-8s %-8s %-6s %-6s %s\n' "app-$i" "$pid" "$port" "$alive" "$health"
    done
    for name in redis nginx; do
        pid=-; [ -f "$RUN/pids/$name.pid" ] && read -r pid _ < "$RUN/pids/$name.pid"
        if pid_alive "$name"; then alive=yes; else alive=no; bad=1; fi
        printf '%-8s %-8s %-6s %-6s\n' "$name" "$pid" "$([ "$name" = nginx ] && echo "$PORT" || echo "$REDIS_PORT")" "$alive"
    done
    echo "http://127.0.0.1:$PORT ($BALANCE affinity)"
    return "$bad"
}

down() {
    [ -d "$RUN/pids" ] || { say "nothing to stop in $RUN"; return 0; }
    stop nginx  # first: no new requests reach a process that is stopping
    local apps=()
    for f in "$RUN"/pids/app-*.pid; do [ -e "$f" ] && apps+=("$(basename "$f" .pid)"); done
    [ "${#apps[@]}" -eq 0 ] || stop "${apps[@]}"
    stop redis
    rm -f "$RUN/hall.env"
}

config() {
    [[ "${1:-3}" =~ ^[1-9][0-9]?$ ]] || die "usage: hall.sh config N"
    mkdir -p "$RUN"
    render_nginx_conf "${1:-3}"
    "$NGINX" -t -q -p "$RUN" -e "$RUN/nginx-error.log" -c "$RUN/nginx.conf"
    echo "$RUN/nginx.conf"
}

case "${1:-}" in
    up) up "${2:-3}" ;;
    config) install_missing; config "${2:-3}" ;;
    status) status ;;
    down) down ;;
    *) echo "usage: bash deploy/hall.sh up [N] | status | down | config [N]" >&2; exit 2 ;;
esac
