"""Entry point of the `hearth` console script and of `python -m hearth_cli`."""

from hearth_cli.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
