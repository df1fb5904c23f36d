module gocheck

go 1.19

require github.com/BurntSushi/toml v1.2.0

// Offline build: Debian's golang-github-burntsushi-toml-dev source.
// build.sh overrides this path with TOML_SRC if set.
replace github.com/BurntSushi/toml => /usr/share/gocode/src/github.com/BurntSushi/toml
