"""The applications: training on a toy data set or a CSV file (`train`), reading CSV files
(`csv_data`) and predicting with a saved model (`predict`). The scikit-learn estimators are
`dualgrad.sklearn`."""
