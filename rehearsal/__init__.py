"""A rehearsal of recipes/paper.toml: layout-exact dataset trees and tiny hub models, offline."""
