"""The configs that ship with textdeconv (the repository's configs/ folder, installed as a package)."""
