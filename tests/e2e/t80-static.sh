#!/bin/sh
# The binaries run in an image with nothing else in it: each is run in an
# empty chroot holding only itself, /etc/hosts and a CA file, and talks
# HTTPS (a test CA, a host name from /etc/hosts) to the simulator and to a
# git smart-HTTP server.
. "$(dirname "$0")/lib.sh"

if ! readelf -h "$RELAY_BIN/relay-find-green" >/dev/null 2>&1 ||
    readelf -l "$RELAY_BIN/relay-find-green" | grep -q INTERP; then
	echo "# skipped: $RELAY_BIN holds no static binaries (sanitizer or valgrind build)"
	test_done
	exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
	CHROOT="chroot"
elif unshare -r true 2>/dev/null; then
	CHROOT="unshare -r chroot"
else
	echo "# skipped: chroot needs root or user namespaces"
	test_done
	exit 0
fi
CHROOT_BIN=$(command -v chroot || echo /usr/sbin/chroot)
CHROOT=$(echo "$CHROOT" | sed "s|chroot|$CHROOT_BIN|")

# a CA and a certificate for gitlab.test, the only names the chroot knows
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=relay-test-ca \
	-keyout ca.key -out ca.pem >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj /CN=gitlab.test -keyout srv.key \
	-out srv.csr >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca \
	-keyout other-ca.key -out other-ca.pem >/dev/null 2>&1
printf 'subjectAltName=DNS:gitlab.test\n' >ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-days 2 -extfile ext -out srv.pem >/dev/null 2>&1

# jail BIN: a fresh root holding only relay-BIN, /etc/hosts and the CA
jail() {
	rm -rf "$TRASH/root" && mkdir -p "$TRASH/root/etc/ssl/certs" &&
		cp "$RELAY_BIN/relay-$1" "$TRASH/root/relay-$1" &&
		echo "127.0.0.1 localhost gitlab.test" >"$TRASH/root/etc/hosts" &&
		cp ca.pem "$TRASH/root/etc/ssl/certs/ca-certificates.crt"
}
# in_jail BIN [VAR=value...]: run relay-BIN in the jail with only these
# variables; stdout in out, stderr in err, the report in root/relay.env
in_jail() {
	b=$1
	shift
	env -i "$@" RELAY_DOTENV=relay.env $CHROOT "$TRASH/root" "/relay-$b" >out 2>err
	rc=$?
}

python3 "$TOP/tests/sim/gitlab_sim.py" --port-file "$TRASH/port" \
	--tls srv.pem srv.key --name gitlab.test >"$TRASH/sim.log" 2>&1 &
SIM_PID=$!
i=0
while [ ! -s "$TRASH/port" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "simulator did not start"; exit 70; }
	sleep 0.05
done
PORT=$(cat "$TRASH/port")
RELAY_DOTENV="$TRASH/root/relay.env"
SIM="https://127.0.0.1:$PORT"
sim() {
	if [ $# -ge 3 ]; then
		curl -sSk --fail-with-body -X "$1" -H 'Content-Type: application/json' \
			--data-binary "$3" "$SIM/-/sim$2"
	else
		curl -sSk --fail-with-body -X "$1" "$SIM/-/sim$2"
	fi
}
API="https://gitlab.test:$PORT/api/v4"
seed_default
src_commits '[{"message": "Add cache", "merge": 1}]'
G=$(nth 1)
pipeline "$G" success >/dev/null

test_expect_success 'every binary starts alone in the jail' '
	for b in find-green open-mr watch triage notify track-deploy status mirror; do
		jail $b && test "$(find "$TRASH/root" -type f | wc -l)" -eq 3 &&
		env -i $CHROOT "$TRASH/root" /relay-$b --version | grep -q "^relay-$b " || return 1
	done
'

test_expect_success 'relay-find-green over HTTPS, name from /etc/hosts, CA from the jail' '
	jail find-green && in_jail find-green CI_API_V4_URL="$API" RELAY_TOKEN="$BOT_TOKEN" &&
	expect_rc 0 && grep -q "^GREEN_SHA=$G$" root/relay.env && no_secrets
'

test_expect_success 'a certificate the jail does not trust is refused (69), one line' '
	jail find-green && cp other-ca.pem "$TRASH/root/etc/ssl/certs/ca-certificates.crt" &&
	in_jail find-green CI_API_V4_URL="$API" RELAY_TOKEN="$BOT_TOKEN" &&
	expect_rc 69 && one_error_line && grep -q "certificate verification failed" err
'

test_expect_success 'an unusable CA file is a configuration error (78), one line' '
	jail find-green && : >"$TRASH/root/etc/ssl/certs/ca-certificates.crt" &&
	in_jail find-green CI_API_V4_URL="$API" RELAY_TOKEN="$BOT_TOKEN" &&
	expect_rc 78 && one_error_line && grep -q RELAY_CA_BUNDLE err
'

mkdir -p srv
git init -q -b main work
git -C work -c user.name=dev -c user.email=dev@example.com commit -q --allow-empty -m one
git -C work tag v1
git clone -q --bare work srv/canon.git
git init -q --bare srv/mirror.git
printf 'oauth2:%s\n' "$BOT_TOKEN" >"$TRASH/git-users"
git_http_start "$TRASH/srv" "$TRASH/srv.pem" "$TRASH/srv.key" gitlab.test

test_expect_success 'relay-mirror over HTTPS (libgit2 + mbedTLS) in the jail' '
	jail mirror &&
	in_jail mirror RELAY_MIRROR_FROM="$GIT_HTTP/canon.git" RELAY_MIRROR_TO="$GIT_HTTP/mirror.git" \
		RELAY_MIRROR_FROM_TOKEN="$BOT_TOKEN" RELAY_MIRROR_TO_TOKEN="$BOT_TOKEN" RELAY_MIRROR_CACHE=cache.git &&
	expect_rc 0 && test "$(git -C srv/mirror.git rev-parse main)" = "$(git -C work rev-parse main)" &&
	test "$(git -C srv/mirror.git rev-parse v1)" = "$(git -C work rev-parse v1)" && no_secrets
'

test_done
