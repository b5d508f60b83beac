module github.com/retain-crm/retain

go 1.26.8

require github.com/BurntSushi/toml v1.6.0

require (
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0 // indirect
)
