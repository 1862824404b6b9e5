#!/usr/bin/env bash
# Puts local copies of the JavaScript a reveal.js deck from `nbconvert --to slides` loads into
# DEST (default: <repo>/slides):
#   DEST/reveal.js/{dist,plugin}   reveal.js 4 (nbconvert's template expects this layout), its
#                                  themes without their Google Fonts @import lines
#   DEST/lib/require.js            RequireJS, which the template uses to load reveal.js
# nbconvert points both at CDNs by default; lecture halls and CI machines are often offline, so
# the decks point at these copies instead (see the Makefile's `slides` target and
# scripts/slides-template/, which also drops nbconvert's MathJax, mermaid and jQuery).
# The packages come from the npm registry with `npm pack` (pinned versions) and are cached
# in <repo>/build/web so later runs need no network.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$(realpath -m "${1:-$repo/slides}")"
cache="$repo/build/web"
packages=(reveal.js@4.6.0 requirejs@2.3.7)

command -v npm >/dev/null || { echo "web-assets.sh: npm is needed (Node.js) to fetch reveal.js" >&2; exit 1; }
mkdir -p "$cache"
for p in "${packages[@]}"; do
    name="${p%@*}"; version="${p##*@}"
    if [ ! -d "$cache/$name-$version" ]; then
        tmp="$(mktemp -d)"
        (cd "$tmp" && npm pack --silent "$p" >/dev/null)
        mkdir -p "$tmp/x" && tar -xzf "$tmp"/*.tgz -C "$tmp/x"
        mv "$tmp/x/package" "$cache/$name-$version"
        rm -rf "$tmp"
    fi
done

mkdir -p "$dest/reveal.js" "$dest/lib"
rm -rf "$dest/reveal.js/dist" "$dest/reveal.js/plugin"
cp -r "$cache/reveal.js-4.6.0/dist" "$cache/reveal.js-4.6.0/plugin" "$dest/reveal.js/"
cp "$cache/reveal.js-4.6.0/LICENSE" "$dest/reveal.js/LICENSE"
cp "$cache/requirejs-2.3.7/require.js" "$dest/lib/require.js"
rm -f "$dest/lib/jquery.min.js"  # left by older versions of this script
# The themes @import fonts from fonts.googleapis.com (offline: a failed request and a wait); the
# decks use the system's fonts instead. The themes' local fonts (./fonts/...) stay.
sed -i -E '/@import url\((https?:)?\/\//d' "$dest"/reveal.js/dist/theme/*.css
if grep -lE '@import url\((https?:)?//' "$dest"/reveal.js/dist/theme/*.css; then
    echo "web-assets.sh: a theme still imports a remote style sheet" >&2; exit 1
fi
echo "web assets in $dest"
