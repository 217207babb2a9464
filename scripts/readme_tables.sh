#!/usr/bin/env bash
# readme_tables.sh - the README's generated tables, from the binary:
# between "<!-- config-keys:begin" and "<!-- config-keys:end -->" what
# `telemt --config-keys` prints, between the user-fields markers what
# `telemt --user-fields` prints, between the counters markers what
# `telemt --counters` prints.  The flag table under "## Command line" is
# prose, not generated, but must name exactly the flags `telemt -h` lists,
# and the endpoint table under "## Admin endpoint" exactly the methods
# and paths of the route table in admin/admin.c.
#
#   scripts/readme_tables.sh TELEMT README.md          rewrite README.md
#   scripts/readme_tables.sh --check TELEMT README.md  diff, exit 1 if stale
set -euo pipefail

check=0
if [ "${1:-}" = --check ]; then
    check=1
    shift
fi
[ $# -eq 2 ] || { echo "usage: $0 [--check] TELEMT README" >&2; exit 2; }
bin=$1 readme=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" --config-keys >"$tmp/config-keys"
"$bin" --user-fields >"$tmp/user-fields"
"$bin" --counters >"$tmp/counters"

# Copy README, each marked block's body replaced by its file.
awk -v dir="$tmp" '
    /^<!-- (config-keys|user-fields|counters):begin/ {
        print
        name = $2
        sub(/:begin$/, "", name)
        while ((getline line < (dir "/" name)) > 0)
            print line
        close(dir "/" name)
        skip = 1
        next
    }
    /^<!-- (config-keys|user-fields|counters):end -->/ { skip = 0 }
    !skip
' "$readme" >"$tmp/README.md"

# The flags: "--name" of each usage line, and of each README table row.
"$bin" -h | sed -n 's/^  \(-., \|    \)--\([a-z-]*\) .*/--\2/p' | sort >"$tmp/flags.bin"
awk -F'|' '/^## Command line/ { on = 1; next } /^## / { on = 0 }
    on && /^\| `-/ { print $2 }' "$readme" |
    grep -oE -- '--[a-z-]+' | sort >"$tmp/flags.readme"
diff -u "$tmp/flags.bin" "$tmp/flags.readme" || {
    echo "$readme: the Command line table must list the flags '$bin -h' lists" >&2
    exit 1
}

# The admin routes: method and path of each row of admin.c's table ("*"
# is written NAME in the README), and the README's endpoint rows.
src=$(dirname "$0")/../admin/admin.c
sed -n '/^} routes\[\] = {/,/^};/p' "$src" |
    sed -n 's/.*{ *"\(\/[^"]*\)", *ADMIN_\([A-Z]*\),.*/\2 \1/p' |
    sed 's/\*/NAME/g' | sort -u >"$tmp/routes.src"
awk -F'|' '/^## Admin endpoint/ { on = 1; next } /^## / { on = 0 }
    on && /^\| `[A-Z]+ \// { print $2 }' "$readme" |
    grep -oE '(GET|POST|PATCH|DELETE) /[A-Za-z0-9/_.-]*' | sort -u \
    >"$tmp/routes.readme"
[ -s "$tmp/routes.src" ] || { echo "$src: no route table found" >&2; exit 1; }
diff -u "$tmp/routes.src" "$tmp/routes.readme" || {
    echo "$readme: the endpoint table must list the methods and paths of" \
        "$src's routes" >&2
    exit 1
}

if [ "$check" = 1 ]; then
    diff -u "$readme" "$tmp/README.md" || {
        echo "$readme: a generated table is stale; run make readme" >&2
        exit 1
    }
else
    cp "$tmp/README.md" "$readme"
fi
