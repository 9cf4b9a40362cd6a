#!/usr/bin/env bash
# Refreshes the GraphiQL page's assets in src/chattree/api/static/graphiql/ from the npm
# registry, so the page loads nothing from another origin. Edit the pinned versions below,
# run this script, then open /graphql and run the browser test (tests/test_graphiql_browser.py).
#
# Only UMD builds are kept: they work with plain <script> tags, with no bundler. GraphiQL 4
# is the last major version that ships one.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL=graphiql@4.1.2
EXPLORER=@graphiql/plugin-explorer@4.0.6
REACT=react@18.3.1
REACT_DOM=react-dom@18.3.1

target=src/chattree/api/static/graphiql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# unpack SPEC: downloads the package's tarball with npm and unpacks it into $work/SPEC.
unpack() {
    local spec=$1 dir="$work/$1" tarball
    mkdir -p "$dir"
    tarball=$(cd "$dir" && npm pack --silent "$spec")
    tar -xzf "$dir/$tarball" -C "$dir"
    echo "$spec $(cd "$dir" && npm view --silent "$spec" dist.integrity)" >>"$work/VERSIONS"
}

# keep SPEC DEST FILE...: copies the package's FILEs into $target/DEST without the
# source-map comment (the maps are not shipped, and a browser would ask for them).
keep() {
    local spec=$1 dest="$target/$2"
    shift 2
    mkdir -p "$dest"
    for file in "$@"; do
        sed -e '/^\/\/# sourceMappingURL=/d' -e 's|/\*# sourceMappingURL=[^*]*\*/||' \
            "$work/$spec/package/$file" >"$dest/$(basename "$file")"
    done
}

rm -rf "$target"
mkdir -p "$target"
for spec in "$GRAPHIQL" "$EXPLORER" "$REACT" "$REACT_DOM"; do
    unpack "$spec"
done

keep "$GRAPHIQL" graphiql graphiql.min.js graphiql.min.css LICENSE
keep "$EXPLORER" plugin-explorer dist/index.umd.js dist/style.css
keep "$REACT" react umd/react.production.min.js LICENSE
keep "$REACT_DOM" react-dom umd/react-dom.production.min.js LICENSE

# The explorer's npm package ships no LICENSE file. Its package.json says MIT, and it is
# published from the same repository (graphql/graphiql) as GraphiQL, whose LICENSE
# covers the whole repository.
license=$(cd "$work/$EXPLORER/package" && node -p "require('./package.json').license")
if [ "$license" != MIT ]; then
    echo "refresh-graphiql: $EXPLORER is no longer MIT licensed ($license); check it" >&2
    exit 1
fi
cp "$target/graphiql/LICENSE" "$target/plugin-explorer/LICENSE"

sort "$work/VERSIONS" >"$target/VERSIONS"
du -sh "$target"
