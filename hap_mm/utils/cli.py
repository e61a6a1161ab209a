"""Command-line helpers shared by the tools."""
import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """``--help`` with the module docstring as written (usage examples keep
    their lines) and each option's default, except where there is none
    (``None``) or the option is a flag (``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        # ``is``: a default of 0 or 0.0 equals False but is shown
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)
