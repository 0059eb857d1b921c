"""``python -m textdeconv``: the same as the ``textdeconv`` command."""
from textdeconv.cli import main

if __name__ == "__main__":
    main()
