"""Analysis of bias and ability results, each statistic with its uncertainty (issue 9, in progress)."""
