//! `pick`: one entry per row, at a column given per row by an index input (a policy's
//! log-probability of the action taken in each row).

use super::index::{Binding, Bound, IndexInputNode};
use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::{fmt_shape, Dim};
use crate::Variable;
use std::rc::Rc;
use typenum::U1;

/// Picking one entry of each row, at the column an [`IndexInputNode`] gives for that
/// row: `rows x 1`; node type [`Pick`]. The operand's gradient is the upstream gradient at
/// the picked entries, zeros elsewhere.
pub struct PickOp {
    columns: Rc<IndexInputNode>,
    /// Keeps the operand's column count limiting the indices while this op lives.
    _binding: Binding,
}

/// Node picking an entry per row: `x.pick(&columns)`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Pick;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// let picked: Variable<Pick<InputNode>> = x.pick(&IndexInputNode::new(&[1, 0]));
/// picked.forward();
/// assert_eq!(picked.value(), ndarray::arr2(&[[2.0], [3.0]]));
/// ```
pub type Pick<T> = Single<PickOp, T>;

impl SingleOp for PickOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = U1;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (shape.0, 1)
    }

    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let cols = shape.1;
        for (r, (y, &c)) in y.iter_mut().zip(self.columns.current().iter()).enumerate() {
            *y = x[r * cols + c];
        }
    }

    fn backward(&self, g: &[f32], _x: &[f32], _y: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let cols = shape.1;
        gx.fill(0.0);
        for (r, (g, &c)) in g.iter().zip(self.columns.current().iter()).enumerate() {
            gx[r * cols + c] = *g;
        }
    }
}

impl<T: Node> Variable<T> {
    /// Each row's entry at the column `columns` gives for that row: `rows x 1`. A policy
    /// gradient's log-probability of each action taken is `logits.log_softmax().pick(&actions)`,
    /// which an advantage then weighs row by row (the sparse cross-entropy sums over the
    /// rows first). The gradient goes to the picked entries only.
    ///
    /// ```
    /// use wyrm::*;
    /// let logits = ParameterNode::new(ndarray::arr2(&[[0.5, -1.0], [2.0, 0.0], [0.0, 0.0]]));
    /// let actions = IndexInputNode::new(&[0, 1, 1]);
    /// let advantages = InputNode::new(ndarray::arr2(&[[1.5], [-0.5], [2.0]]));
    /// let log_probability = logits.log_softmax().pick(&actions); // 3 x 1
    /// let loss = -(log_probability * advantages).scalar_sum();
    /// loss.forward();
    /// loss.backward(1.0);
    /// // The loss raises the first action's logit where the advantage is positive.
    /// assert!(logits.gradient()[(0, 0)] < 0.0);
    /// ```
    ///
    /// # Panics
    /// If `columns` does not hold one index per row, or a current index is out of range
    /// for this node's columns (later, `columns.set_value` rejects one, naming it).
    #[track_caller]
    pub fn pick(&self, columns: &Variable<IndexInputNode>) -> Variable<Pick<T>> {
        let shape = self.shape();
        let count = columns.node().len();
        assert!(
            count == shape.0,
            "pick: {count} indices for a {} operand; it takes one column index per row ({})",
            fmt_shape(shape),
            shape.0
        );
        let binding = IndexInputNode::bind(columns.node(), shape.1, Bound::Columns, "pick");
        self.apply(PickOp {
            columns: columns.node().clone(),
            _binding: binding,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::Array2;

    #[test]
    fn picks_one_entry_per_row() {
        for (rows, cols) in [(1, 1), (3, 2), (4, 5)] {
            let x = ParameterNode::new(random_matrix(rows, cols));
            let columns: Vec<usize> = (0..rows).map(|r| (r * 3 + 1) % cols).collect();
            let idx = IndexInputNode::new(&columns);
            let picked = x.pick(&idx);
            picked.forward();
            let value = x.value();
            for (r, &c) in columns.iter().enumerate() {
                assert_eq!(picked.value()[(r, 0)], value[(r, c)]);
            }
            gradcheck::assert_gradient(&(x.tanh().pick(&idx) * 2.0).exp(), &x);
        }
    }

    #[test]
    #[should_panic(
        expected = "pick: 2 indices for a 3x4 operand; it takes one column index per row (3)"
    )]
    fn pick_takes_one_index_per_row() {
        let x = InputNode::new(Array2::zeros((3, 4)));
        let _ = x.pick(&IndexInputNode::new(&[0, 1]));
    }

    #[test]
    #[should_panic(expected = "column index 4 is out of range for 4 columns")]
    fn pick_rejects_a_column_out_of_range() {
        let x = InputNode::new(Array2::zeros((2, 4)));
        let idx = IndexInputNode::new(&[0, 1]);
        let _picked = x.pick(&idx);
        idx.set_value(&[0, 4]);
    }
}
