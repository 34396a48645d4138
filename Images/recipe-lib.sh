# Sourced by the image recipes.

# kernel_modules MODDIR NAME...: the named modules and
# everything they depend on (modules.dep), as paths relative to MODDIR, in an order
# insmod can load them; exits 2 naming a module MODDIR does not have.
kernel_modules() {
  local moddir="$1"; shift
  local order=() m rel
  add_mod() {
    local rel="$1" dep seen
    for seen in "${order[@]:-}"; do [ "$seen" = "$rel" ] && return 0; done
    for dep in $(awk -F': ' -v m="$rel" '$1==m{print $2}' "$moddir/modules.dep"); do add_mod "$dep"; done
    order+=("$rel")
  }
  for m in "$@"; do
    rel="$(awk -F: -v m="/$m.ko" 'index($1, m) && substr($1, length($1)-length(m)+1)==m {print $1}' "$moddir/modules.dep" | head -n1)"
    [ -n "$rel" ] || { echo "kernel_modules: module $m not found in $moddir" >&2; exit 2; }
    add_mod "$rel"
  done
  printf '%s\n' "${order[@]}"
}

# reuse_built BUILT_MANIFEST MANIFEST WHAT: when this content is built already, makes
# MANIFEST point at it and ends the recipe (exit 0); otherwise returns.
reuse_built() {
  [ -f "$1" ] || return 0
  cmp -s "$1" "$2" 2>/dev/null || cp "$1" "$2"
  echo "$3 is up to date"
  exit 0
}
