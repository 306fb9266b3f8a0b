# Sourced by the scripts that build third-party binaries from the Go module proxy.

# gomod_path MODULE@VERSION DIR prints the path of the module's go.mod in the module cache,
# downloading it from DIR (a module folder). When the proxy refuses, it says why and fails: under
# set -e and pipefail, a failing download in a pipeline would end the caller without a word.
gomod_path() {
  local info gomod
  info=$(cd "$2" && GOFLAGS= go mod download -json "$1" 2>&1) || true
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$info")
  if [[ ! -f "$gomod" ]]; then
    echo "${0##*/}: cannot download $1's go.mod from the module proxy: $(sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p' <<<"$info")" >&2
    return 1
  fi
  echo "$gomod"
}
