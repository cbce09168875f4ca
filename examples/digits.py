"""Runs the main demo as a script: same as `python -m ferrograd.examples.digits`."""

from ferrograd.examples.digits import main

if __name__ == "__main__":
    main()
